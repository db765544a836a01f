"""One team of an organization: its members, its repository access, rename and delete.

The same rules as `/enzi/v0` and the team access API: the organization's members see a team
and its members; its owners (and administrators) rename, delete and staff it; a team's
repository access is seen by the owners and the team's own members, and granted or revoked by
whoever administers the repository. Thin: `accounts.service` and `repos.service` do the work;
forms follow post/redirect/get with a `msg` flag.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts import service as accounts
from dockyard.accounts.models import Account, Team
from dockyard.api.uow import UnitOfWork
from dockyard.auth.access import namespace_access, repository_access
from dockyard.errors import DockyardError
from dockyard.repos import service as repos
from dockyard.repos.models import Repository, RepositoryTeamAccess
from dockyard.repos.team_grants import team_repository_access
from dockyard.rules.permissions import AccessLevel
from dockyard.ui.org_pages import (
    PER_PAGE,
    OrgView,
    message,
    org_view,
    start_of,
    undo,
    user_named,
)
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
TEAM = "/orgs/{org}/teams/{team}"


@dataclass(frozen=True)
class TeamView:
    org: OrgView
    team: Team
    # The team's repository access is for the organization's owners and the team's members.
    sees_grants: bool

    @property
    def base(self) -> str:
        return f"{self.org.base}/teams/{self.team.name}"


async def team_view(
    page: Page, session: AsyncSession, org: str, team: str, *, manage: bool = False
) -> TeamView:
    view = await org_view(page, session, org, manage=manage)
    row = await accounts.get_team(session, view.org, team)
    if row is None or row.name != team:
        raise not_found(f"The team {team}")
    sees = view.is_owner
    if not sees:
        me = await accounts.require_user(session, page.user.account_id)
        sees = await accounts.get_team_member(session, row, me) is not None
    return TeamView(view, row, sees)


async def _grants(
    page: Page, session: AsyncSession, team: Team
) -> tuple[Window[Any], int, set[str]]:
    """A page of the team's grants, how many it holds, and the repositories among them the
    caller administers (who may change or revoke a grant)."""
    stmt = team_repository_access(team)
    window = await keyset_window(
        session, stmt, (Repository.name,), start_of(page, "rstart"), PER_PAGE
    )
    rows: Window[Any] = window.map(lambda row: (row[0], row[1]), lambda row: row[1].name)
    total = await session.scalar(
        select(func.count())
        .select_from(RepositoryTeamAccess)
        .where(RepositoryTeamAccess.team_id == team.id)
    )
    admin_of = {
        repo.name
        for _grant, repo in rows.items
        if await repository_access(session, page.user, repo) >= AccessLevel.ADMIN
    }
    return rows, int(total or 0), admin_of


async def _team_page(
    page: Page, session: AsyncSession, view: TeamView, status: int = 200, **ctx: Any
) -> Response:
    stmt = accounts.team_members_query(view.team)
    window = await keyset_window(session, stmt, (Account.name,), start_of(page), PER_PAGE)
    members: Window[Any] = window.map(lambda row: (row[0], row[1]), lambda row: row[1].name)
    grants, grant_count, admin_of = (
        await _grants(page, session, view.team) if view.sees_grants else (None, 0, set())
    )
    org = view.org.org
    ns_grant = (
        await repos.get_namespace_team_access(session, org, view.team) if view.sees_grants else None
    )
    ctx.setdefault("error", None)
    ctx.setdefault("values", {})
    return render(
        page,
        "team.html",
        status=status,
        view=view.org,
        team_view=view,
        tab="teams",
        members=members,
        member_count=await accounts.team_member_count(session, view.team),
        grants=grants,
        grant_count=grant_count,
        admin_of=admin_of,
        ns_level=ns_grant.access_level if ns_grant else "",
        ns_admin=await namespace_access(session, page.user, org) >= AccessLevel.ADMIN,
        msg=message(page),
        **ctx,
    )


@router.get(TEAM)
async def team_page(
    org: str, team: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    return await _team_page(page, session, await team_view(page, session, org, team))


@router.post(TEAM + "/rename")
async def rename(
    org: str, team: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    form = await page.check_csrf()
    view = await team_view(page, session, org, team, manage=True)
    values = {k: form_value(form, k) for k in ("name", "description")}
    try:
        await accounts.update_team(
            session, view.team, name=values["name"], description=values["description"]
        )
    except DockyardError as exc:
        await undo(session, view.org)
        await session.refresh(view.team)
        return await _team_page(page, session, view, 400, error=exc.message, values=values)
    return redirect(page, f"{view.org.base}/teams/{view.team.name}?msg=team-saved")


@router.post(TEAM + "/delete")
async def delete(
    org: str, team: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    await page.check_csrf()
    view = await team_view(page, session, org, team, manage=True)
    await accounts.delete_team(session, view.team)
    return redirect(page, f"{view.org.base}/teams?msg=team-deleted")


@router.post(TEAM + "/members")
async def add_member(
    org: str, team: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    form = await page.check_csrf()
    view = await team_view(page, session, org, team, manage=True)
    name = form_value(form, "name")
    user = await user_named(session, name)
    if user is None:
        error = f"There is no user named '{name}'. Check the username (not the full name)."
        return await _team_page(page, session, view, 400, error=error)
    # As eNZi: a user added to a team joins its organization too. Adding someone already in
    # the team sets their team admin flag as the form says (PUT .../members/{user} does).
    await accounts.set_team_member(
        session, view.org.org, view.team, user, is_admin=form.get("is_admin") == "on"
    )
    return redirect(page, f"{view.base}?msg=team-member-added")


@router.post(TEAM + "/members/{user}/role")
async def set_member_role(
    org: str, team: str, user: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    """A team member's admin flag (eNZi's `isAdmin` of PUT .../teams/{team}/members/{user}):
    the organization's owners set it, as they staff the team."""
    form = await page.check_csrf()
    view = await team_view(page, session, org, team, manage=True)
    account = await user_named(session, user)
    if account is None or await accounts.get_team_member(session, view.team, account) is None:
        raise not_found(f"The team member {user}")
    is_admin = form_value(form, "role") == "admin"
    await accounts.set_team_member(session, view.org.org, view.team, account, is_admin=is_admin)
    return redirect(page, f"{view.base}?msg=team-member-role")


@router.post(TEAM + "/members/{user}/remove")
async def remove_member(
    org: str, team: str, user: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    await page.check_csrf()
    view = await team_view(page, session, org, team, manage=True)
    account = await user_named(session, user)
    if account is None or await accounts.get_team_member(session, view.team, account) is None:
        raise not_found(f"The team member {user}")
    await accounts.remove_team_member(session, view.team, account)
    return redirect(page, f"{view.base}?msg=team-member-removed")


async def _administered(
    page: Page, session: AsyncSession, view: TeamView, name: str
) -> Repository | None:
    """The organization's repository `name` when the caller administers it (as PUT and DELETE
    .../teamAccess/{team} require); None when it does not exist or they cannot see it."""
    repo = await repos.get_repository(session, view.org.org.name, name)
    if repo is None:
        return None
    level = await repository_access(session, page.user, repo)
    if level < AccessLevel.READ_ONLY:
        return None
    if level < AccessLevel.ADMIN:
        raise FORBIDDEN
    return repo


@router.post(TEAM + "/access")
async def grant(
    org: str, team: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    form = await page.check_csrf()
    view = await team_view(page, session, org, team)
    name = form_value(form, "repository").removeprefix(f"{view.org.org.name}/")
    repo = await _administered(page, session, view, name)
    if repo is None:
        error = f"{view.org.org.name} has no repository named '{name}' that you can see."
        return await _team_page(page, session, view, 400, error=error)
    try:
        await repos.set_repository_team_access(session, repo, view.team, form_value(form, "level"))
    except DockyardError as exc:
        await undo(session, view.org)
        await session.refresh(view.team)
        return await _team_page(page, session, view, 400, error=exc.message)
    return redirect(page, f"{view.base}?msg=access-saved")


@router.post(TEAM + "/access/{repository}/revoke")
async def revoke(
    org: str, team: str, repository: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    await page.check_csrf()
    view = await team_view(page, session, org, team)
    repo = await _administered(page, session, view, repository)
    if repo is None:
        raise not_found(f"The repository {view.org.org.name}/{repository}")
    await repos.delete_repository_team_access(session, repo, view.team)
    return redirect(page, f"{view.base}?msg=access-revoked")


@router.post(TEAM + "/namespace-access")
async def grant_namespace(
    org: str, team: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    """The team's access to every repository of the organization (as PUT and DELETE
    /api/v0/repositoryNamespaces/{org}/teamAccess/{team}: the namespace's admins)."""
    form = await page.check_csrf()
    view = await team_view(page, session, org, team)
    namespace = view.org.org
    if await namespace_access(session, page.user, namespace) < AccessLevel.ADMIN:
        raise FORBIDDEN
    level = form_value(form, "level")
    if level == "none":
        if await repos.get_namespace_team_access(session, namespace, view.team) is not None:
            await repos.delete_namespace_team_access(session, namespace, view.team)
        return redirect(page, f"{view.base}?msg=access-saved")
    try:
        await repos.set_namespace_team_access(session, namespace, view.team, level)
    except DockyardError as exc:
        await undo(session, view.org)
        await session.refresh(view.team)
        return await _team_page(page, session, view, 400, error=exc.message)
    return redirect(page, f"{view.base}?msg=access-saved")
