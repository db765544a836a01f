"""FastAPI dependencies that say who is calling.

Credentials are tried in order by the resolvers registered on `app.state.principal_resolvers`
(HTTP Basic with a password or API token here; registry bearer tokens and the UI session
cookie register their own). A resolver returns a Principal, None (not my kind of
credential), or raises DockyardError (my kind, but wrong).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable

from fastapi import Request

from dockyard.accounts.principal import Principal
from dockyard.accounts.service import authenticate
from dockyard.errors import DockyardError, ErrorCode
from dockyard.services import Services

PrincipalResolver = Callable[[Request, Services], Awaitable[Principal | None]]

_UNSET = object()


def _unauthenticated(request: Request, message: str) -> DockyardError:
    code = (
        ErrorCode.UNAUTHORIZED
        if request.url.path.startswith("/v2")
        else ErrorCode.NOT_AUTHENTICATED
    )
    return DockyardError(code, message)


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


async def basic_resolver(request: Request, services: Services) -> Principal | None:
    header = request.headers.get("authorization", "")
    creds = parse_basic(header)
    if creds is None:
        return None
    name, secret = creds
    if not name:
        raise _unauthenticated(request, "The Basic credentials are malformed.")
    async with services.session() as session:
        principal = await authenticate(session, name, secret)
    if principal is None:
        raise _unauthenticated(request, "The username or password is wrong.")
    return principal


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_principal(request: Request) -> Principal | None:
    """The caller, or None for anonymous. Wrong credentials are a 401, never anonymous."""
    cached = getattr(request.state, "principal", _UNSET)
    if cached is not _UNSET:
        return cached  # type: ignore[return-value]
    services = services_of(request)
    principal: Principal | None = None
    resolvers: list[PrincipalResolver] = request.app.state.principal_resolvers
    for resolver in resolvers:
        principal = await resolver(request, services)
        if principal is not None:
            break
    request.state.principal = principal
    return principal


async def require_principal(request: Request) -> Principal:
    principal = await get_principal(request)
    if principal is None:
        raise _unauthenticated(request, "Authentication is required.")
    return principal
