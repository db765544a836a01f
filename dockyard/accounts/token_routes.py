"""MSR access tokens at /api/v0/api_tokens: create (the token is shown once), list, read, change
(isActive, tokenLabel), delete one, and MSR's mass cleanup. Users manage their own; admins
manage anyone's. A token is the user's password's equal: HTTP Basic on /v2 and /api/v0 accepts it.

Thin: parse, authorize, call `accounts.service`, shape the answer. The unit of work commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts import service as accounts
from dockyard.accounts.models import Account, ApiToken
from dockyard.accounts.principal import Principal
from dockyard.accounts.schemas import CreateToken, NewToken, TokenOut, UpdateToken
from dockyard.api.pagination import (
    Keyset,
    Page,
    PageParams,
    keyset_page,
    page_params,
    set_page_headers,
)
from dockyard.api.responses import errors
from dockyard.api.routing import AuthenticateFirstRoute
from dockyard.api.uow import UnitOfWork
from dockyard.auth.deps import require_principal
from dockyard.auth.orgs import forbidden
from dockyard.errors import DockyardError, ErrorCode

router = APIRouter(
    prefix="/api/v0/api_tokens", tags=["access tokens"], route_class=AuthenticateFirstRoute
)
Caller = Depends(require_principal)
AUTH = (401, 429)


async def _target_user(session: AsyncSession, principal: Principal, username: str) -> Account:
    """Whose tokens: the caller's own, or (admins only) the named user's."""
    name = username or principal.name
    if name != principal.name and not principal.is_admin:
        raise forbidden("Only administrators manage other users' tokens.")
    return await accounts.require_user(session, name)


async def _visible_token(
    session: AsyncSession, principal: Principal, hashed: str
) -> tuple[ApiToken, Account]:
    found = await accounts.get_token(session, hashed)
    # Someone else's token is reported as missing: its id reveals nothing to a non-admin.
    if found is None or (found[1].id != principal.account_id and not principal.is_admin):
        raise DockyardError(ErrorCode.NO_SUCH_TOKEN, detail={"hashedToken": hashed[:100]})
    return found


async def _token_page(session: AsyncSession, user: Account, params: PageParams) -> Page[Any]:
    """Tokens in creation order; `pageStart` is a hashed token, placed in that order first."""
    start = await accounts.token_page_start(session, user, params.start) if params.start else None
    if params.start and start is None:
        # Past every token: an empty last page (the count, when asked, still counts them all).
        total = await accounts.count_tokens(session, user) if params.count else -1
        return Page([], "", total)
    return await keyset_page(session, accounts.tokens_query(user), _keyset(start), params)


def _keyset(start: tuple[datetime, str] | None) -> Keyset[Any]:
    return Keyset(
        columns=(ApiToken.created_at, ApiToken.hashed_token),
        parse=lambda _token: start,
        token=lambda row: row[0].hashed_token,
    )


@router.get(
    "",
    summary="List API tokens (your own; admins: anyone's)",
    response_model=list[TokenOut],
    responses=errors(400, *AUTH, 403, 404),
)
async def list_tokens(
    response: Response,
    session: UnitOfWork,
    username: str = Query("", description="Whose tokens (admins: anyone's)."),
    params: PageParams = Depends(page_params),
    principal: Principal = Caller,
) -> list[TokenOut]:
    user = await _target_user(session, principal, username)
    page = await _token_page(session, user, params)
    set_page_headers(response, page, params)
    return [TokenOut.of(token, owner) for token, owner in page.items]


@router.post(
    "",
    summary="Create an API token (the answer is the only time the token is shown)",
    response_model=NewToken,
    responses=errors(400, *AUTH, 403, 404, 413),
)
async def create_token(
    request: Request,
    session: UnitOfWork,
    form: CreateToken | None = None,
    username: str = Query("", description="For whom (admins: anyone)."),
    principal: Principal = Caller,
) -> NewToken:
    user = await _target_user(session, principal, username)
    token, plaintext = await accounts.create_token(
        session,
        user,
        label=form.tokenLabel if form else "",
        generated_by=principal.name,
        creator_ua=request.headers.get("user-agent", ""),
    )
    return NewToken.created(token, user, plaintext)


def _cutoff(usedbefore: str) -> datetime | None:
    if not usedbefore:
        return None
    detail = {"field": "usedbefore", "value": usedbefore[:100]}
    try:
        cutoff = datetime.fromisoformat(usedbefore.replace("Z", "+00:00"))
    except ValueError as exc:
        raise DockyardError(
            ErrorCode.INVALID_PARAMETERS, "usedbefore must be an RFC 3339 time.", detail=detail
        ) from exc
    if cutoff.tzinfo is None:
        raise DockyardError(
            ErrorCode.INVALID_PARAMETERS, "usedbefore needs a time zone.", detail=detail
        )
    return cutoff


# MSR answers both deletes with 200 ("Successfully deleted API token"), and MSR clients check for
# it; the body (dockyard's) is what was deleted.
@router.delete(
    "",
    summary="Delete API tokens in bulk (MSR's cleanup); answers the tokens deleted",
    response_model=list[TokenOut],
    responses=errors(400, *AUTH, 403, 404),
)
async def delete_tokens(
    session: UnitOfWork,
    username: str = Query("", description="Whose tokens (admins: anyone's)."),
    usedbefore: str = Query("", description="Only tokens last used before this RFC 3339 time."),
    generatedby: str = Query("", description="Only tokens created by this user."),
    principal: Principal = Caller,
) -> list[TokenOut]:
    cutoff = _cutoff(usedbefore)
    user = await _target_user(session, principal, username)
    deleted = await accounts.delete_tokens(
        session, user, generated_by=generatedby, used_before=cutoff
    )
    return [TokenOut.of(token, owner) for token, owner in deleted]


@router.get(
    "/{hashed}",
    summary="Read an API token",
    response_model=TokenOut,
    responses=errors(*AUTH, 404),
)
async def get_token(hashed: str, session: UnitOfWork, principal: Principal = Caller) -> TokenOut:
    return TokenOut.of(*await _visible_token(session, principal, hashed))


@router.patch(
    "/{hashed}",
    summary="Turn an API token off or on, or relabel it",
    response_model=TokenOut,
    responses=errors(400, *AUTH, 404, 413),
)
async def update_token(
    hashed: str, form: UpdateToken, session: UnitOfWork, principal: Principal = Caller
) -> TokenOut:
    token, owner = await _visible_token(session, principal, hashed)
    await accounts.update_token(session, token, is_active=form.isActive, label=form.tokenLabel)
    return TokenOut.of(token, owner)


@router.delete(
    "/{hashed}",
    summary="Delete an API token (and the docker login refresh token it is); answers it",
    response_model=TokenOut,
    responses=errors(*AUTH, 404),
)
async def delete_token(hashed: str, session: UnitOfWork, principal: Principal = Caller) -> TokenOut:
    token, owner = await _visible_token(session, principal, hashed)
    answer = TokenOut.of(token, owner)
    await accounts.delete_token(session, token)
    return answer
