"""A registry administrator's page of one user: who they are and their access tokens (newest
first, with last use), each revocable. The same rules as `/api/v0/api_tokens?username=`: only
registry administrators see or revoke another user's tokens; a token of someone else is as
missing as one that does not exist.

Thin: `accounts.service` does the work; the revoke follows post/redirect/get with a `msg` flag.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts import service as accounts
from dockyard.accounts.models import Account
from dockyard.api.uow import UnitOfWork
from dockyard.ui.account_pages import token_window
from dockyard.ui.render import FORBIDDEN, Page, not_found, page_context, redirect, render

router = APIRouter()

_MESSAGES = {
    "token-revoked": "The token was revoked. Clients using it are refused from now on.",
}


async def _user(page: Page, session: AsyncSession, name: str) -> Account:
    """The user `name`, for an administrator (403 for anyone else, as the API answers)."""
    if not page.user.is_admin:
        raise FORBIDDEN
    user = await accounts.get_account(session, name)
    if user is None or user.is_org or user.name != name:
        raise not_found(f"The user {name}")
    return user


@router.get("/admin/users/{name}")
async def user_page(name: str, session: UnitOfWork, page: Page = Depends(page_context)) -> Response:
    user = await _user(page, session, name)
    return render(
        page,
        "user_admin.html",
        account=user,
        window=await token_window(page, session, user),
        token_count=await accounts.count_tokens(session, user),
        msg=_MESSAGES.get(page.request.query_params.get("msg", "")),
    )


@router.post("/admin/users/{name}/tokens/{hashed}/revoke")
async def revoke_token(
    name: str, hashed: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    await page.check_csrf()
    user = await _user(page, session, name)
    found = await accounts.get_token(session, hashed)
    if found is None or found[1].id != user.id:
        raise not_found("That token")
    await accounts.delete_token(session, found[0])
    return redirect(page, f"/admin/users/{user.name}?msg=token-revoked")
