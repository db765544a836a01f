"""Docker registry token authentication: `/auth/token` and its wiring (the /v2 challenge that
sends clients here is the registry's: `registry/challenge.py`).

Clients (skopeo, podman, docker) ping /v2/, get `401 WWW-Authenticate: Bearer realm=...`,
ask `/auth/token` for the scopes they need (with Basic credentials, or none for anonymous
pulls of public repositories), then send `Authorization: Bearer <jwt>`. The token grants the
intersection of what was asked and what `auth.access` allows. Asked for one (`offline_token`,
`access_type=offline`), the answer also carries a refresh token (`auth/refresh.py`), which the
OAuth2 form (`grant_type=refresh_token`) exchanges for access tokens later.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from dockyard.accounts.models import Account
from dockyard.accounts.principal import Principal
from dockyard.accounts.service import get_account
from dockyard.auth.access import namespace_access, repository_access
from dockyard.auth.deps import (
    check_credentials,
    parse_basic,
    services_of,
)
from dockyard.auth.refresh import (
    issue_refresh_token,
    principal_for_refresh_token,
    refresh_token_resolver,
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
    request: Request,
    principal: Principal | None,
    scopes: list[str],
    refresh_token: str | None = None,
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
    body: dict[str, object] = {
        "token": token,
        "access_token": token,
        "expires_in": expires_in,
        "issued_at": issued_at,
    }
    if refresh_token is not None:
        body["refresh_token"] = refresh_token
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


def _asks_offline(value: object) -> bool:
    return str(value).lower() in ("true", "1", "yes")


async def _new_refresh_token(request: Request, principal: Principal | None) -> str | None:
    """A refresh token for a signed-in caller who asked for one (anonymous callers get none)."""
    if principal is None:
        return None
    agent = request.headers.get("user-agent", "")
    return await issue_refresh_token(services_of(request), principal, agent)


@router.get("/auth/token")
async def token_get(request: Request) -> JSONResponse:
    """Docker token spec: Basic credentials (or none, for anonymous) and `scope` parameters;
    `offline_token=true` adds a `refresh_token` (what `docker login` stores)."""
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
    refresh = None
    if _asks_offline(request.query_params.get("offline_token", "")):
        refresh = await _new_refresh_token(request, principal)
    return await _token_answer(request, principal, request.query_params.getlist("scope"), refresh)


def _required(form: dict[str, str], field: str) -> str:
    value = form.get(field, "")
    if not value:
        raise DockyardError(
            ErrorCode.INVALID_PARAMETERS, f"{field} is required.", detail={"field": field}
        )
    return value


@router.post("/auth/token")
async def token_post(request: Request) -> JSONResponse:
    """Docker's OAuth2 form: `grant_type=password` (username and password; `access_type=offline`
    adds a refresh token) or `grant_type=refresh_token` (a refresh token from before)."""
    raw = await request.form()
    form = {key: str(value) for key, value in raw.items()}
    scopes = [str(v) for v in raw.getlist("scope")]
    offline = form.get("access_type", "") == "offline"
    grant_type = form.get("grant_type", "")
    if grant_type == "refresh_token":
        refresh = _required(form, "refresh_token")
        principal = await principal_for_refresh_token(services_of(request), refresh)
        # The same refresh token stays good: hand it back when the client asks to keep one.
        return await _token_answer(request, principal, scopes, refresh if offline else None)
    if grant_type != "password":
        raise DockyardError(
            ErrorCode.INVALID_PARAMETERS,
            "grant_type is password or refresh_token.",
            detail={"field": "grant_type", "value": grant_type[:100]},
        )
    name = _required(form, "username")
    principal = await check_credentials(
        request, services_of(request), name, form.get("password", "")
    )
    new_refresh = await _new_refresh_token(request, principal) if offline else None
    return await _token_answer(request, principal, scopes, new_refresh)


def install_token_auth(app: FastAPI, settings: Settings) -> None:
    """Mount /auth/token with the key it signs registry tokens with (the registry application
    verifies them with its own copy of the key), and accept `?refresh_token=` on the APIs."""
    app.state.registry_signing_key = load_or_create_key(
        settings.data_dir, settings.registry_token_key
    )
    # First: a `?refresh_token=` the request carries decides who it is (a wrong one is a 401
    # even beside other credentials, never silently ignored).
    app.state.principal_resolvers.insert(0, refresh_token_resolver)
    app.include_router(router)
