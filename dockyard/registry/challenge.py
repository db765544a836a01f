"""The registry's 401 challenge: `WWW-Authenticate: Bearer realm="<us>/auth/token",service,scope`
with the scopes the request needed (as Distribution names them), or Basic when registry token
auth is off. Read by the /v2 application's error handlers; no I/O here.
"""

from __future__ import annotations

import re

from fastapi import Request

from dockyard.config import Settings

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
    if not settings.registry_token_auth:
        return 'Basic realm="dockyard"'
    value = f'Bearer realm="{external_base(request)}/auth/token",service="{settings.registry_host}"'
    scopes = needed_scopes(request)
    if scopes:
        value += f',scope="{" ".join(scopes)}"'
    error = _bearer_error(request)
    if error == "invalid_token" or (error and scopes):
        value += f',error="{error}"'
    return value
