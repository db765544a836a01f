"""Organization/namespace pages and the registry admin's user pages. Thin: accounts.service
does the work; `auth.access` says who may see what. Each page's database work is the request's
unit of work (committed when the page returns, before its redirect is sent)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts import service as accounts
from dockyard.accounts.models import Account, OrgMember, Team
from dockyard.api.uow import UnitOfWork
from dockyard.auth.access import namespace_access
from dockyard.auth.orgs import is_org_owner
from dockyard.errors import DockyardError
from dockyard.rules.permissions import AccessLevel
from dockyard.ui.org_pages import OrgView
from dockyard.ui.queries import visible_repositories
from dockyard.ui.render import (
    FORBIDDEN,
    Page,
    form_value,
    not_found,
    page_context,
    redirect,
    render,
)
from dockyard.ui.windows import keyset_window

router = APIRouter()
PREVIEW = 10

_MESSAGES = {
    "org-created": "The organization was created.",
    "user-created": "The user was created. Give them their password through a safe channel.",
    "user-updated": "The user was updated.",
}


PER_PAGE = 50


async def _orgs_page(
    page: Page, session: AsyncSession, status: int = 200, error: str | None = None
) -> Response:
    """One page of the organizations the caller belongs to (all for an admin), by name."""
    stmt = select(Account).where(Account.is_org.is_(True))
    if not page.user.is_admin:
        mine = select(OrgMember.org_id).where(OrgMember.user_id == page.user.account_id)
        stmt = stmt.where(Account.id.in_(mine))
    start = page.request.query_params.get("start", "")
    window = await keyset_window(
        session, stmt, (Account.name,), (start,) if start else None, PER_PAGE
    )
    return render(
        page,
        "orgs.html",
        status=status,
        window=window.map(lambda row: row[0], lambda row: row[0].name),
        error=error,
        msg=_MESSAGES.get(page.request.query_params.get("msg", "")),
    )


@router.get("/orgs")
async def organizations(session: UnitOfWork, page: Page = Depends(page_context)) -> Response:
    return await _orgs_page(page, session)


@router.post("/orgs")
async def create_org(session: UnitOfWork, page: Page = Depends(page_context)) -> Response:
    form = await page.check_csrf()
    if not page.user.is_admin:
        raise FORBIDDEN
    name = form_value(form, "name")
    try:
        await accounts.create_org(session, name)
    except DockyardError as exc:
        await session.rollback()
        return await _orgs_page(page, session, 400, exc.message)
    return redirect(page, f"/orgs/{name}?msg=org-created")


@router.get("/orgs/{namespace}")
async def namespace_page(
    namespace: str, session: UnitOfWork, page_no: int = 1, page: Page = Depends(page_context)
) -> Response:
    principal = page.user
    account = await accounts.get_account(session, namespace)
    if account is None or account.name != namespace:
        raise not_found(f"The namespace {namespace}")
    level = await namespace_access(session, principal, account)
    member = (
        account.is_org
        and await accounts.get_org_member(
            session, account, await accounts.require_user(session, principal.account_id)
        )
        is not None
    )
    page_no = max(page_no, 1)
    repos, total = await visible_repositories(
        session, principal, "", (page_no - 1) * PER_PAGE, PER_PAGE, namespace=namespace
    )
    if level < AccessLevel.READ_ONLY and not member and not total:
        raise not_found(f"The namespace {namespace}")
    is_owner = level >= AccessLevel.ADMIN
    # The organization's tabs follow /enzi/v0's rules: members see Members and Teams. This
    # page shows the first few of each; the tabs have them all, in pages.
    view, members, teams, counts = None, [], [], (0, 0)
    if account.is_org:
        owner = await is_org_owner(session, principal, account)
        view = OrgView(account, member or principal.is_admin, owner)
        members = list(
            await session.execute(
                accounts.org_members_query(account).order_by(Account.name).limit(PREVIEW)
            )
        )
        teams = list(
            await session.scalars(
                select(Team).where(Team.org_id == account.id).order_by(Team.name).limit(PREVIEW)
            )
        )
        counts = await accounts.org_counts(session, account)
    return render(
        page,
        "namespace.html",
        ns=account,
        view=view,
        tab="repositories",
        msg=_MESSAGES.get(page.request.query_params.get("msg", "")),
        repos=repos,
        total=total,
        page_no=page_no,
        pages=max((total + PER_PAGE - 1) // PER_PAGE, 1),
        is_owner=is_owner,
        members=members if (is_owner or member) else [],
        teams=teams if is_owner else [],
        member_count=counts[0],
        team_count=counts[1],
    )


async def _users_page(
    page: Page,
    session: AsyncSession,
    status: int = 200,
    error: str | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    """One page of the registry's users, by name."""
    start = page.request.query_params.get("start", "")
    window = await keyset_window(
        session,
        select(Account).where(Account.is_org.is_(False)),
        (Account.name,),
        (start,) if start else None,
        PER_PAGE,
    )
    return render(
        page,
        "users.html",
        status=status,
        window=window.map(lambda row: row[0], lambda row: row[0].name),
        error=error,
        values=values or {},
        msg=_MESSAGES.get(page.request.query_params.get("msg", "")),
    )


@router.get("/admin/users")
async def users(session: UnitOfWork, page: Page = Depends(page_context)) -> Response:
    if not page.user.is_admin:
        raise FORBIDDEN
    return await _users_page(page, session)


@router.post("/admin/users")
async def create_user(session: UnitOfWork, page: Page = Depends(page_context)) -> Response:
    form = await page.check_csrf()
    if not page.user.is_admin:
        raise FORBIDDEN
    values = {k: form_value(form, k) for k in ("name", "full_name")}
    password = str(form.get("password", ""))
    try:
        accounts.validate_password(password)
        await accounts.create_user(
            session,
            values["name"],
            password,
            is_admin=form.get("is_admin") == "on",
            full_name=values["full_name"],
        )
    except DockyardError as exc:
        await session.rollback()
        return await _users_page(page, session, 400, exc.message, values)
    return redirect(page, "/admin/users?msg=user-created")


@router.post("/admin/users/{name}")
async def update_user(
    name: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    form = await page.check_csrf()
    principal = page.user
    if not principal.is_admin:
        raise FORBIDDEN
    action = form_value(form, "action")
    changes: dict[str, bool] = {
        "make-admin": {"is_admin": True},
        "remove-admin": {"is_admin": False},
        "deactivate": {"is_active": False},
        "activate": {"is_active": True},
    }.get(action, {})
    if not changes:
        raise not_found("That action")
    try:
        user = await accounts.require_user(session, name)
    except DockyardError:
        raise not_found(f"The user {name}") from None
    if user.id == principal.account_id and action in ("remove-admin", "deactivate"):
        error = (
            "You cannot remove your own admin rights or deactivate yourself; "
            "ask another administrator."
        )
        return await _users_page(page, session, 400, error)
    await accounts.update_account(
        session, user, is_admin=changes.get("is_admin"), is_active=changes.get("is_active")
    )
    return redirect(page, "/admin/users?msg=user-updated")
