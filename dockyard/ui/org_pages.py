"""An organization's Members and Teams tabs: add, remove and promote members, create teams.

The same rules as `/enzi/v0` (`auth.orgs`): an organization's members (and administrators) see
its members and teams; its owners (and administrators) manage them; a member may leave. A tab a
person may not use is not shown, and its forms are refused anyway. Thin: `accounts.service`
does the work; forms follow post/redirect/get with a `msg` flag.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts import service as accounts
from dockyard.accounts.models import Account, Team, TeamMember
from dockyard.api.uow import UnitOfWork
from dockyard.auth.orgs import is_org_member, is_org_owner
from dockyard.errors import DockyardError
from dockyard.ui.render import (
    FORBIDDEN,
    Page,
    form_value,
    not_found,
    page_context,
    redirect,
    render,
)
from dockyard.ui.windows import Window, keyset_window

router = APIRouter()

PER_PAGE = 50

MESSAGES = {
    "member-added": "The member was added.",
    "member-saved": "The member's role was changed.",
    "member-removed": "The member was removed from the organization and its teams.",
    "team-created": "The team was created. Add its members and give it repository access below.",
    "team-saved": "The team was saved.",
    "team-deleted": "The team was deleted, with its repository access.",
    "team-member-added": "The member was added to the team.",
    "team-member-removed": "The member was removed from the team.",
    "team-member-role": "The member's team role was saved.",
    "access-saved": "The team's repository access was saved.",
    "access-revoked": "The team's access to the repository was revoked.",
}


@dataclass(frozen=True)
class OrgView:
    """An organization as the caller sees it: whether they may see its people, manage them."""

    org: Account
    is_member: bool
    is_owner: bool

    @property
    def base(self) -> str:
        return f"/orgs/{self.org.name}"


async def org_view(
    page: Page, session: AsyncSession, name: str, *, manage: bool = False
) -> OrgView:
    """The organization, for a member (an owner when `manage`); others are refused."""
    principal = page.user
    org = await accounts.get_account(session, name)
    if org is None or org.name != name or not org.is_org:
        raise not_found(f"The organization {name}")
    view = OrgView(
        org,
        await is_org_member(session, principal, org),
        await is_org_owner(session, principal, org),
    )
    if not view.is_member or (manage and not view.is_owner):
        raise FORBIDDEN
    return view


async def undo(session: AsyncSession, view: OrgView) -> None:
    """Roll back a failed form's writes; the rollback expires what the session read, so the
    organization the page shows is read again."""
    await session.rollback()
    await session.refresh(view.org)


def message(page: Page) -> str | None:
    return MESSAGES.get(page.request.query_params.get("msg", ""))


async def user_named(session: AsyncSession, name: str) -> Account | None:
    account = await accounts.get_account(session, name)
    if account is None or account.name != name or account.is_org:
        return None
    return account


def start_of(page: Page, param: str = "start") -> tuple[str, ...] | None:
    start = page.request.query_params.get(param, "")
    return (start,) if start else None


# --- members ---------------------------------------------------------------------------------


async def _members_page(
    page: Page, session: AsyncSession, view: OrgView, status: int = 200, error: str | None = None
) -> Response:
    stmt = accounts.org_members_query(view.org)
    window = await keyset_window(session, stmt, (Account.name,), start_of(page), PER_PAGE)
    rows: Window[Any] = window.map(lambda row: (row[0], row[1]), lambda row: row[1].name)
    # How many of the organization's teams each listed member is in: removing them says so.
    ids = [account.id for _member, account in rows.items]
    counts = dict(
        (
            await session.execute(
                select(TeamMember.user_id, func.count())
                .join(Team, Team.id == TeamMember.team_id)
                .where(Team.org_id == view.org.id, TeamMember.user_id.in_(ids))
                .group_by(TeamMember.user_id)
            )
        ).all()
    )
    return render(
        page,
        "org_members.html",
        status=status,
        view=view,
        tab="members",
        window=rows,
        team_counts=counts,
        me=page.user.account_id,
        msg=message(page),
        error=error,
    )


@router.get("/orgs/{org}/members")
async def members(org: str, session: UnitOfWork, page: Page = Depends(page_context)) -> Response:
    return await _members_page(page, session, await org_view(page, session, org))


@router.post("/orgs/{org}/members")
async def add_member(org: str, session: UnitOfWork, page: Page = Depends(page_context)) -> Response:
    form = await page.check_csrf()
    view = await org_view(page, session, org, manage=True)
    name = form_value(form, "name")
    user = await user_named(session, name)
    if user is None:
        error = f"There is no user named '{name}'. Check the username (not the full name)."
        return await _members_page(page, session, view, 400, error)
    await accounts.set_org_member(session, view.org, user, is_admin=form.get("role") == "owner")
    return redirect(page, f"{view.base}/members?msg=member-added")


@router.post("/orgs/{org}/members/{user}/role")
async def set_role(
    org: str, user: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    form = await page.check_csrf()
    view = await org_view(page, session, org, manage=True)
    account = await user_named(session, user)
    if account is None or await accounts.get_org_member(session, view.org, account) is None:
        raise not_found(f"The member {user}")
    await accounts.set_org_member(session, view.org, account, is_admin=form.get("role") == "owner")
    return redirect(page, f"{view.base}/members?msg=member-saved")


@router.post("/orgs/{org}/members/{user}/remove")
async def remove_member(
    org: str, user: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    await page.check_csrf()
    account = await user_named(session, user)
    leaving = account is not None and account.id == page.user.account_id
    # Anyone may leave; removing someone else takes an owner (as DELETE .../members/{user}).
    view = await org_view(page, session, org, manage=not leaving)
    if account is None or await accounts.get_org_member(session, view.org, account) is None:
        raise not_found(f"The member {user}")
    await accounts.remove_org_member(session, view.org, account)
    if leaving and not page.user.is_admin:
        return redirect(page, "/account/organizations")
    return redirect(page, f"{view.base}/members?msg=member-removed")


# --- teams -----------------------------------------------------------------------------------


async def _teams_page(
    page: Page, session: AsyncSession, view: OrgView, status: int = 200, **ctx: Any
) -> Response:
    stmt = accounts.teams_query(view.org)
    window = await keyset_window(session, stmt, (Team.name,), start_of(page), PER_PAGE)
    rows: Window[Any] = window.map(lambda row: (row[0], row[1]), lambda row: row[0].name)
    ctx.setdefault("error", None)
    ctx.setdefault("values", {})
    return render(
        page,
        "org_teams.html",
        status=status,
        view=view,
        tab="teams",
        window=rows,
        msg=message(page),
        **ctx,
    )


@router.get("/orgs/{org}/teams")
async def teams(org: str, session: UnitOfWork, page: Page = Depends(page_context)) -> Response:
    return await _teams_page(page, session, await org_view(page, session, org))


@router.post("/orgs/{org}/teams")
async def create_team(
    org: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    form = await page.check_csrf()
    view = await org_view(page, session, org, manage=True)
    values = {k: form_value(form, k) for k in ("name", "description")}
    try:
        team = await accounts.create_team(session, view.org, values["name"], values["description"])
    except DockyardError as exc:
        await undo(session, view)
        return await _teams_page(page, session, view, 400, error=exc.message, values=values)
    return redirect(page, f"{view.base}/teams/{team.name}?msg=team-created")
