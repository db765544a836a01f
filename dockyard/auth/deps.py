"""FastAPI dependencies that say who is calling.

Credentials are tried in order by the resolvers registered on `app.state.principal_resolvers`
(HTTP Basic with a password or API token here; registry bearer tokens and the UI session
cookie register their own). A resolver returns a Principal, None (not my kind of
credential), or raises DockyardError (my kind, but wrong).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request

from dockyard.accounts.principal import Principal
from dockyard.accounts.service import authenticate
from dockyard.auth.ratelimit import LoginRateLimiter
from dockyard.auth.tokens import InvalidToken, SigningKey, scopes_from_claims, verify_token
from dockyard.errors import DockyardError, ErrorCode
from dockyard.services import Services

PrincipalResolver = Callable[[Request, Services], Awaitable[Principal | None]]


def _unauthenticated(message: str) -> DockyardError:
    # The /v2 application's error handlers name it UNAUTHORIZED (its ErrorDialect).
    return DockyardError(ErrorCode.NOT_AUTHENTICATED, message)


def parse_basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ("", "")
    name, sep, secret = decoded.partition(":")
    if not sep:
        return ("", "")
    return name, secret


def login_limiter(request: Request) -> LoginRateLimiter:
    """The login rate limiter (created on first use; its counts are in the database)."""
    limiter: LoginRateLimiter | None = getattr(request.app.state, "login_limiter", None)
    if limiter is None:
        limiter = LoginRateLimiter()
        request.app.state.login_limiter = limiter
    return limiter


def client_address(request: Request) -> str:
    return request.client.host if request.client is not None else ""


class LoginBlocked(Exception):
    """Too many failed logins for this (user, address): refused, even with the right secret."""

    def __init__(self, seconds: int) -> None:
        super().__init__(seconds)
        self.seconds = seconds


async def verify_login(
    request: Request, services: Services, name: str, secret: str
) -> Principal | None:
    """Check a name and password/API token through the registry's one login limiter.

    Every way of signing in (HTTP Basic on the APIs and /v2, the web login form) goes through
    here, so failures from all of them count against the same (user, address) pair.
    None when the credentials are wrong; LoginBlocked while the pair is blocked."""
    limiter = login_limiter(request)
    address = client_address(request)
    async with services.session() as session:
        # The count is in the database, shared by every worker: one point read here.
        standing = await limiter.standing(session, name, address)
        if standing.retry_after is not None:
            raise LoginBlocked(int(standing.retry_after) + 1)
        principal = await authenticate(session, name, secret)
        if principal is None:
            await limiter.failed(session, name, address)
        elif standing.remembered:
            await limiter.succeeded(session, name, address)
        if session.dirty or principal is None or standing.remembered:
            # A failure or a forgotten count; or a token's lastUsed moved on (once a minute).
            await session.commit()
    return principal


async def check_credentials(
    request: Request, services: Services, name: str, secret: str
) -> Principal:
    """Verify a name and password/API token, counting failures per (user, address)."""
    try:
        principal = await verify_login(request, services, name, secret)
    except LoginBlocked as blocked:
        # TOOMANYREQUESTS on /v2 (the registry application's ErrorDialect renames it).
        raise DockyardError(
            ErrorCode.RATE_LIMITED,
            f"Too many failed logins for '{name}' from this address; "
            f"try again in {blocked.seconds} seconds.",
            headers={"Retry-After": str(blocked.seconds)},
        ) from None
    if principal is None:
        raise _unauthenticated("The username or password is wrong.")
    return principal


async def basic_resolver(request: Request, services: Services) -> Principal | None:
    header = request.headers.get("authorization", "")
    creds = parse_basic(header)
    if creds is None:
        return None
    name, secret = creds
    if not name:
        raise _unauthenticated("The Basic credentials are malformed.")
    return await check_credentials(request, services, name, secret)


# The principal of each verified registry bearer token, by (key id, service, token string).
# A client sends the same token on every request of its short life, and a manifest GET costs
# little more than building it again (the verification, its cache's lock, the scopes). Kept
# only until the token's `exp` (never longer: `verify_token` allows a few seconds' leeway, this
# does not); the least recently used go first when full. Only the event loop touches it. An
# OrderedDict (C) rather than cachetools' LRUCache: a hit is two C calls instead of a Python
# method chain, on every /v2 request.
_BEARER_PRINCIPALS: OrderedDict[tuple[str, str, str], tuple[float, Principal | None]] = (
    OrderedDict()
)
_BEARER_PRINCIPALS_MAX = 4096


def _remember_bearer(key: tuple[str, str, str], exp: float, principal: Principal | None) -> None:
    _BEARER_PRINCIPALS[key] = (exp, principal)
    _BEARER_PRINCIPALS.move_to_end(key)
    while len(_BEARER_PRINCIPALS) > _BEARER_PRINCIPALS_MAX:
        _BEARER_PRINCIPALS.popitem(last=False)


async def bearer_resolver(request: Request, services: Services) -> Principal | None:
    """A registry bearer token from /auth/token (a resolver of the /v2 application only): the
    account it names, limited to the repository actions it grants. A token issued to nobody
    means anonymous."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    key: SigningKey | None = getattr(request.app.state, "registry_signing_key", None)
    if key is None:
        return None
    service = services.registry_host
    cache_key = (key.kid, service, token)
    hit = _BEARER_PRINCIPALS.get(cache_key)
    if hit is not None and time.time() < hit[0]:
        _BEARER_PRINCIPALS.move_to_end(cache_key)
        return hit[1]
    try:
        claims = verify_token(key, token, service=service)
    except InvalidToken as exc:
        raise _unauthenticated("The bearer token is invalid or expired.") from exc
    subject = claims.get("sub")
    principal = (
        Principal(
            account_id=str(claims.get("account_id", "")),
            name=str(subject),
            is_admin=bool(claims.get("admin", False)),
            scopes=scopes_from_claims(claims),
        )
        if subject
        else None
    )
    exp = claims.get("exp")
    if isinstance(exp, int | float):
        _remember_bearer(cache_key, float(exp), principal)
    return principal


def current_session_token(request: Request) -> str | None:
    """The web UI session a request was authenticated by (the UI's resolver records it in
    `request.state.ui_session_token`); None for Basic, bearer and anonymous requests."""
    token = getattr(request.state, "ui_session_token", None)
    return token if isinstance(token, str) else None


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_principal(request: Request) -> Principal | None:
    """The caller, or None for anonymous. Wrong credentials are a 401, never anonymous."""
    # `request.state` keeps its values in the scope's "state" dict: read it there, since a
    # missing attribute of `request.state` costs an AttributeError built and caught.
    state: dict[str, Any] = request.scope.setdefault("state", {})
    if "principal" in state:
        cached: Principal | None = state["principal"]
        return cached
    services = services_of(request)
    principal: Principal | None = None
    resolvers: list[PrincipalResolver] = request.app.state.principal_resolvers
    for resolver in resolvers:
        principal = await resolver(request, services)
        if principal is not None:
            break
    state["principal"] = principal
    return principal


async def metrics_access(request: Request) -> None:
    """Who may read /metrics, as DOCKYARD_METRICS says (a FastAPI dependency of the route).

    `authenticated` admits the metrics bearer token (what a Prometheus scrape config holds)
    or a registry admin; queue depths and delivery outcomes are operator data, not a user's."""
    settings = request.app.state.settings
    if settings.metrics == "public":
        return
    if settings.metrics == "off":
        raise DockyardError(ErrorCode.NOT_FOUND, "Metrics are turned off (DOCKYARD_METRICS).")
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        expected = settings.metrics_token
        if expected and hmac.compare_digest(value.strip().encode(), expected.encode()):
            return
        raise _unauthenticated("The metrics token is wrong.")
    principal = await require_principal(request)
    if not principal.is_admin:
        raise DockyardError(
            ErrorCode.NOT_AUTHORIZED,
            "Only registry administrators (or the metrics token) may read metrics.",
        )


async def require_principal(request: Request) -> Principal:
    principal = await get_principal(request)
    if principal is None:
        raise _unauthenticated("Authentication is required.")
    return principal
