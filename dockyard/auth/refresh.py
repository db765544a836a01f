"""Refresh tokens: what `docker login` stores instead of the password, and DTR's `?refresh_token=`.

A refresh token is an API token underneath (one row of `api_tokens`, labelled for docker login
and marked `generatedBy: auto`, the value MSR's token cleanup defaults to), so the API token list
shows it and turning it off or deleting it revokes it at once. `/auth/token` issues one when asked
(`offline_token=true` on GET, `access_type=offline` on the OAuth2 POST) and takes it back in the
OAuth2 `grant_type=refresh_token` form. On `/api/v0` and `/enzi/v0`, `?refresh_token=` (how diver
and dtrctl authenticate) identifies its user; a wrong or revoked one is a 401, never the anonymous
view. The request log never records its value (`api/middleware.py` redacts it).
"""

from __future__ import annotations

from fastapi import Request

from dockyard.accounts import service as accounts
from dockyard.accounts.principal import Principal
from dockyard.errors import DockyardError, ErrorCode
from dockyard.services import Services

QUERY_PARAMETER = "refresh_token"
# MSR's `DELETE /api/v0/api_tokens` cleans up `generatedby=auto` tokens unless told otherwise:
# the tokens its logins made.
GENERATED_BY = "auto"
LABEL = "docker login refresh token"
# Where `?refresh_token=` authenticates: the JSON APIs (not the web UI, whose links would carry it
# into browser histories and Referer headers; not /v2, which has its own bearer tokens).
API_PREFIXES = ("/api/", "/enzi/")


def _revoked() -> DockyardError:
    return DockyardError(
        ErrorCode.NOT_AUTHENTICATED, "The refresh token is unknown, turned off or revoked."
    )


async def issue_refresh_token(services: Services, principal: Principal, user_agent: str) -> str:
    """A new refresh token for the principal's user (an API token; its value is shown once).

    Its own short transaction, as the sign-in checks' (`auth.deps.verify_login`): /auth/token
    sits below the web layer's unit of work."""
    async with services.session() as session:
        user = await accounts.require_user(session, principal.account_id)
        _row, plaintext = await accounts.create_token(
            session, user, label=LABEL, generated_by=GENERATED_BY, creator_ua=user_agent
        )
        await session.commit()
    return plaintext


async def principal_for_refresh_token(services: Services, value: str) -> Principal:
    """The user a refresh token (or any API token) names; 401 when it names none."""
    async with services.session() as session:
        principal = await accounts.authenticate_token(session, value)
        if session.dirty:  # the token's lastUsed moved on (at most once a minute)
            await session.commit()
    if principal is None:
        raise _revoked()
    return principal


async def refresh_token_resolver(request: Request, services: Services) -> Principal | None:
    """`?refresh_token=` on the JSON APIs: its user, or 401. Not my kind (None) elsewhere or when
    the parameter is absent."""
    if not request.url.path.startswith(API_PREFIXES):
        return None
    if QUERY_PARAMETER not in request.query_params:
        return None
    return await principal_for_refresh_token(services, request.query_params[QUERY_PARAMETER])
