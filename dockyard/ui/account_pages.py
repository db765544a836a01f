"""Your account: the profile with the password change, your access tokens (create, shown once,
revoke) and your organizations. Each person manages only their own here (administrators
manage other people's tokens on the user's page, `ui.user_admin_pages`).

Thin: `accounts.service` does the work. Forms follow post/redirect/get: a new token is parked
in the web session (`ui.once`) and shown by the GET after the redirect, once.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts import service as accounts
from dockyard.accounts.models import Account, ApiToken, OrgMember
from dockyard.api.uow import UnitOfWork
from dockyard.errors import DockyardError
from dockyard.ui import once
from dockyard.ui.render import Page, form_value, not_found, page_context, redirect, render
from dockyard.ui.windows import Window, keyset_window

router = APIRouter()

PER_PAGE = 50
TOKEN_NOTICE = "api-token"

_MESSAGES = {
    "password-changed": "Your password was changed. Your other web sessions were signed out.",
    "token-revoked": "The token was revoked. Clients using it are refused from now on.",
}


async def _me(page: Page, session: AsyncSession) -> Account:
    return await accounts.require_user(session, page.user.account_id)


def _account_page(page: Page, template: str, tab: str, status: int = 200, **ctx: Any) -> Response:
    msg = _MESSAGES.get(page.request.query_params.get("msg", ""))
    return render(page, template, status=status, tab=tab, msg=msg, **ctx)


@router.get("/account")
async def profile(session: UnitOfWork, page: Page = Depends(page_context)) -> Response:
    me = await _me(page, session)
    return _account_page(page, "account.html", "profile", me=me, error=None)


@router.post("/account/password")
async def change_password(session: UnitOfWork, page: Page = Depends(page_context)) -> Response:
    form = await page.check_csrf()
    me = await _me(page, session)
    current = str(form.get("current_password", ""))
    new = str(form.get("new_password", ""))
    error = None
    if new != str(form.get("repeat_password", "")):
        error = "The new password and its repetition differ. Type the same password twice."
    else:
        try:
            # This browser's session stays signed in; every other session of the account ends.
            await accounts.change_password(session, me, current, new, page.session.token)
        except DockyardError as exc:
            await session.rollback()
            error = (
                "The current password is wrong. Type the password you signed in with."
                if isinstance(exc.detail, dict) and exc.detail.get("field") == "oldPassword"
                else exc.message
            )
    if error:
        me = await _me(page, session)
        return _account_page(page, "account.html", "profile", 400, me=me, error=error)
    return redirect(page, "/account?msg=password-changed")


async def token_window(page: Page, session: AsyncSession, owner: Account) -> Window[ApiToken]:
    """One page of `owner`'s tokens, newest first, in SQL (`start` is a hashed token). The
    caller has checked who may see them (the owner; an administrator on the user's page)."""
    start = page.request.query_params.get("start", "")
    begin = await accounts.token_page_start(session, owner, start) if start else None
    order = (ApiToken.created_at, ApiToken.hashed_token)
    stmt = select(ApiToken).where(ApiToken.account_id == owner.id)
    window = await keyset_window(session, stmt, order, begin, PER_PAGE, descending=True)
    return window.map(lambda row: row[0], lambda row: row[0].hashed_token)


async def _tokens_page(
    page: Page, session: AsyncSession, status: int = 200, error: str | None = None
) -> Response:
    me = await _me(page, session)
    window = await token_window(page, session, me)
    return _account_page(
        page, "account_tokens.html", "tokens", status, me=me, window=window, error=error
    )


@router.get("/account/tokens")
async def tokens(session: UnitOfWork, page: Page = Depends(page_context)) -> Response:
    return await _tokens_page(page, session)


@router.post("/account/tokens")
async def create_token(session: UnitOfWork, page: Page = Depends(page_context)) -> Response:
    form = await page.check_csrf()
    me = await _me(page, session)
    label = form_value(form, "label")
    if not label:
        return await _tokens_page(page, session, 400, "Give the token a label, such as ci-push.")
    try:
        _token, secret = await accounts.create_token(
            session,
            me,
            label=label,
            generated_by=me.name,
            creator_ua=page.request.headers.get("user-agent", ""),
        )
    except DockyardError as exc:
        await session.rollback()
        return await _tokens_page(page, session, 400, exc.message)
    if page.session.token:
        await once.park(session, page.session.token, TOKEN_NOTICE, secret)
    return redirect(page, "/account/tokens/created")


@router.get("/account/tokens/created")
async def token_created(session: UnitOfWork, page: Page = Depends(page_context)) -> Response:
    """The new token, on the first GET after creating it only; a reload goes to the list."""
    me = await _me(page, session)
    token = page.session.token
    secret = await once.take(session, token, TOKEN_NOTICE) if token else None
    if secret is None:
        return redirect(page, "/account/tokens")
    host = page.services.registry_host
    return _account_page(
        page, "account_token_created.html", "tokens", me=me, secret=secret, host=host
    )


@router.post("/account/tokens/{hashed}/revoke")
async def revoke_token(
    hashed: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    await page.check_csrf()
    found = await accounts.get_token(session, hashed)
    # Someone else's token is as missing as one that does not exist: its id reveals nothing.
    if found is None or found[1].id != page.user.account_id:
        raise not_found("That token")
    await accounts.delete_token(session, found[0])
    return redirect(page, "/account/tokens?msg=token-revoked")


@router.get("/account/organizations")
async def organizations(session: UnitOfWork, page: Page = Depends(page_context)) -> Response:
    me = await _me(page, session)
    start = page.request.query_params.get("start", "")
    stmt = (
        select(Account, OrgMember)
        .join(OrgMember, OrgMember.org_id == Account.id)
        .where(OrgMember.user_id == me.id)
    )
    window = await keyset_window(
        session, stmt, (Account.name,), (start,) if start else None, PER_PAGE
    )
    rows = window.map(lambda row: (row[0], row[1]), lambda row: row[0].name)
    return _account_page(page, "account_orgs.html", "orgs", me=me, window=rows)
