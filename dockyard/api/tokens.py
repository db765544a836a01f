"""MSR access tokens at /api/v0/api_tokens: create (the token is shown once), list, get,
patch (isActive, tokenLabel), delete. Users manage their own; admins manage anyone's.
A token is the user's password's equal: HTTP Basic on /v2 and /api/v0 accepts it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts import service as accounts
from dockyard.accounts.models import Account, ApiToken
from dockyard.accounts.principal import Principal
from dockyard.accounts.schemas import CreateToken, UpdateToken, token_wire
from dockyard.api.authz import forbidden
from dockyard.api.pagination import PageParams, page_params, paginate, set_page_headers
from dockyard.api.routing import AuthenticateFirstRoute
from dockyard.auth.deps import require_principal, services_of
from dockyard.errors import DockyardError, ErrorCode

router = APIRouter(
    prefix="/api/v0/api_tokens", tags=["access tokens"], route_class=AuthenticateFirstRoute
)


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


@router.get("")
async def list_tokens(
    request: Request,
    username: str = Query("", description="Whose tokens (admins: anyone's)."),
    params: PageParams = Depends(page_params),
    principal: Principal = Depends(require_principal),
) -> JSONResponse:
    async with services_of(request).session() as session:
        user = await _target_user(session, principal, username)
        rows = await accounts.list_tokens(session, user)
    page = paginate(rows, lambda row: row[0].hashed_token, params)
    response = JSONResponse([token_wire(t, owner) for t, owner in page.items])
    set_page_headers(response, page, params)
    return response


@router.post("")
async def create_token(
    request: Request,
    form: CreateToken | None = None,
    username: str = Query("", description="For whom (admins: anyone)."),
    principal: Principal = Depends(require_principal),
) -> dict[str, Any]:
    async with services_of(request).session() as session:
        user = await _target_user(session, principal, username)
        token, plaintext = await accounts.create_token(
            session,
            user,
            label=form.tokenLabel if form else "",
            generated_by=principal.name,
            creator_ua=request.headers.get("user-agent", ""),
        )
        await session.commit()
        return token_wire(token, user, plaintext)


@router.delete("", status_code=204)
async def delete_tokens(
    request: Request,
    username: str = Query("", description="Whose tokens (admins: anyone's)."),
    usedbefore: str = Query("", description="Only tokens last used before this RFC 3339 time."),
    generatedby: str = Query("", description="Only tokens created by this user."),
    principal: Principal = Depends(require_principal),
) -> Response:
    """MSR's mass cleanup of tokens."""
    cutoff: datetime | None = None
    if usedbefore:
        try:
            cutoff = datetime.fromisoformat(usedbefore.replace("Z", "+00:00"))
        except ValueError as exc:
            raise DockyardError(
                ErrorCode.INVALID_PARAMETERS,
                "usedbefore must be an RFC 3339 time.",
                detail={"field": "usedbefore", "value": usedbefore[:100]},
            ) from exc
        if cutoff.tzinfo is None:
            raise DockyardError(
                ErrorCode.INVALID_PARAMETERS,
                "usedbefore needs a time zone.",
                detail={"field": "usedbefore", "value": usedbefore[:100]},
            )
    async with services_of(request).session() as session:
        user = await _target_user(session, principal, username)
        for token, _owner in await accounts.list_tokens(session, user):
            if generatedby and token.generated_by != generatedby:
                continue
            if cutoff is not None and token.last_used is not None and token.last_used >= cutoff:
                continue
            await accounts.delete_token(session, token)
        await session.commit()
    return Response(status_code=204)


@router.get("/{hashed}")
async def get_token(
    request: Request, hashed: str, principal: Principal = Depends(require_principal)
) -> dict[str, Any]:
    async with services_of(request).session() as session:
        token, owner = await _visible_token(session, principal, hashed)
        return token_wire(token, owner)


@router.patch("/{hashed}")
async def update_token(
    request: Request,
    hashed: str,
    form: UpdateToken,
    principal: Principal = Depends(require_principal),
) -> dict[str, Any]:
    async with services_of(request).session() as session:
        token, owner = await _visible_token(session, principal, hashed)
        await accounts.update_token(session, token, is_active=form.isActive, label=form.tokenLabel)
        await session.commit()
        return token_wire(token, owner)


@router.delete("/{hashed}", status_code=204)
async def delete_token(
    request: Request, hashed: str, principal: Principal = Depends(require_principal)
) -> Response:
    async with services_of(request).session() as session:
        token, _owner = await _visible_token(session, principal, hashed)
        await accounts.delete_token(session, token)
        await session.commit()
    return Response(status_code=204)
