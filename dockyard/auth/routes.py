"""Docker registry token authentication: `/auth/token`, the /v2 challenge, and wiring.

Clients (skopeo, podman, docker) ping /v2/, get `401 WWW-Authenticate: Bearer realm=...`,
ask `/auth/token` for the scopes they need (with Basic credentials, or none for anonymous
pulls of public repositories), then send `Authorization: Bearer <jwt>`. The token grants the
intersection of what was asked and what `auth.access` allows.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from dockyard.accounts.models import Account
from dockyard.accounts.principal import Principal
from dockyard.accounts.service import get_account
from dockyard.auth.access import namespace_access, repository_access
from dockyard.auth.deps import (
    PrincipalResolver,
    bearer_resolver,
    check_credentials,
    parse_basic,
    services_of,
)
from dockyard.auth.tokens import (
    Scope,
    SigningKey,
    actions_for_level,
    issue_token,
    load_or_create_key,
    parse_scope,
)
from dockyard.config import Settings
from dockyard.errors import DockyardError, ErrorCode
from dockyard.repos.service import get_repository
from dockyard.rules.permissions import AccessLevel
from dockyard.services import Services

router = APIRouter(include_in_schema=False)

_V2_PATH = re.compile(r"^/v2/(?P<name>.+?)/(?P<kind>manifests|blobs|tags|referrers)(?P<rest>/.*)?$")
_SCHEMES = ("http", "https")


def _scheme(request: Request, settings: Settings) -> str:
    """The scheme the client used: the proxy's word for it only when we are told to trust it
    (anyone can send X-Forwarded-Proto to a server that is reached directly)."""
    if settings.trust_proxy_headers:
        forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
        if forwarded in _SCHEMES:
            return forwarded
    return request.url.scheme if request.url.scheme in _SCHEMES else "http"


def external_base(request: Request) -> str:
    """The absolute URL clients reach us at: the configured external URL (a bare host gets the
    request's scheme), else the request's scheme and Host. Clients fetch tokens from
    `<this>/auth/token`, so it must be a URL, never a bare host."""
    settings: Settings = request.app.state.settings
    configured = settings.external_url.strip().rstrip("/")
    if configured:
        scheme, sep, rest = configured.partition("://")
        if sep and scheme.lower() in _SCHEMES:
            return f"{scheme.lower()}://{rest}"
        return f"{_scheme(request, settings)}://{configured}"
    host = request.headers.get("host") or settings.registry_host
    # The Host header is the client's: keep it from breaking out of the quoted realm.
    host = host.replace('"', "").replace("\\", "")
    return f"{_scheme(request, settings)}://{host}"


def needed_scopes(request: Request) -> list[str]:
    """The token scopes a /v2 request needs, as Distribution names them: `pull` to read,
    `pull,push` for anything under `blobs/uploads` (a session's GET and DELETE included) and
    other writes, `delete` to delete; a mount also needs `pull` on the repository it mounts
    from; the catalog needs `registry:catalog:*`."""
    path = request.url.path
    if path.rstrip("/") == "/v2/_catalog":
        return ["registry:catalog:*"]
    match = _V2_PATH.match(path)
    if match is None:
        return []
    name = match.group("name")
    method = request.method.upper()
    uploads = match.group("kind") == "blobs" and (match.group("rest") or "").startswith("/uploads")
    if uploads or method not in ("GET", "HEAD", "DELETE"):
        actions = "pull,push"
    elif method == "DELETE":
        actions = "delete"
    else:
        actions = "pull"
    scopes = [f"repository:{name}:{actions}"]
    source = request.query_params.get("from") or ""
    mounting = uploads and method == "POST" and bool(request.query_params.get("mount"))
    # Quotes or spaces would break the challenge's quoted, space-separated scope list.
    if mounting and source and source != name and not set(source) & {'"', " ", "\\"}:
        scopes.append(f"repository:{source}:pull")
    return scopes


def _bearer_error(request: Request) -> str | None:
    """Why a request that sent a bearer token is still unauthorized (RFC 6750 error codes):
    its token did not verify, or it verified and lacks the scope (`get_principal` caches the
    principal on the request only when the credentials verified)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    resolved = hasattr(request.state, "principal")
    return "insufficient_scope" if resolved else "invalid_token"


def challenge(request: Request) -> str:
    """WWW-Authenticate for a /v2 401: Bearer with the scope the request needed, and, when a
    bearer token was sent, why it was not enough (as Distribution's token access controller)."""
    settings: Settings = request.app.state.settings
    if not settings.registry_token_auth or not request.url.path.startswith("/v2"):
        return 'Basic realm="dockyard"'
    value = f'Bearer realm="{external_base(request)}/auth/token",service="{settings.registry_host}"'
    scopes = needed_scopes(request)
    if scopes:
        value += f',scope="{" ".join(scopes)}"'
    error = _bearer_error(request)
    if error == "invalid_token" or (error and scopes):
        value += f',error="{error}"'
    return value


async def _grant(services: Services, principal: Principal | None, scope: Scope) -> Scope | None:
    """What of `scope` this principal gets (possibly nothing)."""
    if scope.type == "registry":
        # The catalog lists only what the account may read, so any account may hold it;
        # a token without it lists only the repositories the token names.
        if scope.name == "catalog" and principal is not None:
            return Scope(scope.type, scope.name, scope.actions & {"*"})
        return None
    namespace_name, sep, repo_name = scope.name.partition("/")
    if not sep or "/" in repo_name:
        return Scope(scope.type, scope.name, frozenset())
    async with services.session() as session:
        repo = await get_repository(session, namespace_name, repo_name)
        if repo is not None:
            level = await repository_access(session, principal, repo)
        else:
            # Not there yet: a push may create it, which needs write access to the namespace.
            account: Account | None = await get_account(session, namespace_name)
            if account is None or account.name != namespace_name:
                level = AccessLevel.NONE
            else:
                level = await namespace_access(session, principal, account)
    allowed = actions_for_level(level) & scope.actions
    return Scope(scope.type, scope.name, frozenset(allowed))


async def _token_answer(
    request: Request, principal: Principal | None, scopes: list[str]
) -> JSONResponse:
    services = services_of(request)
    key: SigningKey = request.app.state.registry_signing_key
    granted: list[Scope] = []
    for raw in scopes:
        for part in raw.split(" "):
            parsed = parse_scope(part) if part else None
            if parsed is None:
                continue
            scope = await _grant(services, principal, parsed)
            if scope is not None:
                granted.append(scope)
    extra = {}
    if principal is not None:
        extra = {"account_id": principal.account_id, "admin": principal.is_admin}
    token, expires_in, issued = issue_token(
        key,
        service=services.registry_host,
        subject=principal.name if principal is not None else "",
        access=granted,
        extra=extra,
    )
    issued_at = datetime.fromtimestamp(issued, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return JSONResponse(
        {
            "token": token,
            "access_token": token,
            "expires_in": expires_in,
            "issued_at": issued_at,
        },
        headers={"Cache-Control": "no-store"},
    )


@router.get("/auth/token")
async def token_get(request: Request) -> JSONResponse:
    """Docker token spec: Basic credentials (or none, for anonymous) and `scope` parameters."""
    header = request.headers.get("authorization", "")
    principal: Principal | None = None
    creds = parse_basic(header) if header else None
    if header and creds is None:
        raise DockyardError(ErrorCode.NOT_AUTHENTICATED, "Use Basic credentials at /auth/token.")
    if creds is not None:
        name, secret = creds
        if not name:
            raise DockyardError(ErrorCode.NOT_AUTHENTICATED, "The Basic credentials are malformed.")
        principal = await check_credentials(request, services_of(request), name, secret)
    return await _token_answer(request, principal, request.query_params.getlist("scope"))


@router.post("/auth/token")
async def token_post(request: Request) -> JSONResponse:
    """The OAuth2 password grant some clients use (form fields instead of Basic)."""
    form = await request.form()
    grant_type = str(form.get("grant_type", ""))
    if grant_type != "password":
        raise DockyardError(
            ErrorCode.INVALID_PARAMETERS,
            "Only grant_type=password is supported.",
            detail={"field": "grant_type", "value": grant_type},
        )
    name = str(form.get("username", ""))
    secret = str(form.get("password", ""))
    if not name:
        raise DockyardError(
            ErrorCode.INVALID_PARAMETERS, "username is required.", detail={"field": "username"}
        )
    principal = await check_credentials(request, services_of(request), name, secret)
    scopes = [str(v) for v in form.getlist("scope")]
    answer = await _token_answer(request, principal, scopes)
    return answer


def install_token_auth(
    app: FastAPI, settings: Settings, resolvers: list[PrincipalResolver]
) -> None:
    """Mount /auth/token, register the bearer resolver and the /v2 challenge."""
    app.state.registry_signing_key = load_or_create_key(settings.data_dir)
    app.state.auth_challenge = challenge
    resolvers.append(bearer_resolver)
    app.include_router(router)
