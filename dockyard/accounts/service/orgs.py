"""Organizations' members and teams, and teams' members.

Takes a session and never commits: the caller's unit of work does. Authorization (owners manage,
members see) is the caller's job. No HTTP here.
"""

from __future__ import annotations

from sqlalchemy import Select, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts.models import Account, OrgMember, Team, TeamMember
from dockyard.accounts.service.accounts import ID_PREFIX, validate_account_name
from dockyard.errors import DockyardError, ErrorCode

# --- members --------------------------------------------------------------------


def org_members_query(org: Account) -> Select[OrgMember, Account]:
    """An organization's members with their accounts, unordered (the caller orders by name)."""
    return (
        select(OrgMember, Account)
        .join(Account, Account.id == OrgMember.user_id)
        .where(OrgMember.org_id == org.id)
    )


async def list_org_members(session: AsyncSession, org: Account) -> list[tuple[OrgMember, Account]]:
    rows = await session.execute(org_members_query(org).order_by(Account.name))
    return [(member, account) for member, account in rows]


async def get_org_member(session: AsyncSession, org: Account, user: Account) -> OrgMember | None:
    return await session.get(OrgMember, (org.id, user.id))


async def set_org_member(
    session: AsyncSession, org: Account, user: Account, *, is_admin: bool
) -> OrgMember:
    """Add a user to an organization, or change whether they own it."""
    if user.is_org:
        raise DockyardError(ErrorCode.NO_SUCH_USER, f"'{user.name}' is an organization.")
    member = await get_org_member(session, org, user)
    if member is None:
        member = OrgMember(org_id=org.id, user_id=user.id, is_admin=is_admin)
        session.add(member)
    else:
        member.is_admin = is_admin
    await session.flush()
    return member


async def remove_org_member(session: AsyncSession, org: Account, user: Account) -> None:
    member = await get_org_member(session, org, user)
    if member is None:
        raise DockyardError(
            ErrorCode.NO_SUCH_USER, f"'{user.name}' is not a member of '{org.name}'."
        )
    # Leaving an organization also leaves its teams: team grants must not outlive membership.
    team_ids = select(Team.id).where(Team.org_id == org.id)
    await session.execute(
        delete(TeamMember).where(TeamMember.user_id == user.id, TeamMember.team_id.in_(team_ids))
    )
    await session.delete(member)
    await session.flush()


async def org_counts(session: AsyncSession, org: Account) -> tuple[int, int]:
    """(members, teams) of an organization."""
    members = await session.scalar(
        select(func.count()).select_from(OrgMember).where(OrgMember.org_id == org.id)
    )
    teams = await session.scalar(
        select(func.count()).select_from(Team).where(Team.org_id == org.id)
    )
    return int(members or 0), int(teams or 0)


# --- teams -----------------------------------------------------------------------------------


def teams_query(org: Account) -> Select[Team, int]:
    """An organization's teams, each with its member count, unordered (the caller orders by
    name)."""
    members = (
        select(func.count())
        .select_from(TeamMember)
        .where(TeamMember.team_id == Team.id)
        .correlate(Team)
        .scalar_subquery()
    )
    return select(Team, members.label("members_count")).where(Team.org_id == org.id)


async def list_teams(session: AsyncSession, org: Account) -> list[Team]:
    return list(
        await session.scalars(select(Team).where(Team.org_id == org.id).order_by(Team.name))
    )


async def get_team(session: AsyncSession, org: Account, name_or_id: str) -> Team | None:
    """A team of `org` by name, by eNZi's `id:<uuid>` or by its bare id."""
    if name_or_id.startswith(ID_PREFIX):
        name_or_id = name_or_id[len(ID_PREFIX) :]
    team: Team | None = await session.scalar(
        select(Team).where(Team.org_id == org.id, Team.name == name_or_id)
    )
    if team is None:
        team = await session.scalar(
            select(Team).where(Team.org_id == org.id, Team.id == name_or_id)
        )
    return team


async def require_team(session: AsyncSession, org: Account, name_or_id: str) -> Team:
    team = await get_team(session, org, name_or_id)
    if team is None:
        raise DockyardError(
            ErrorCode.NO_SUCH_TEAM, detail={"organization": org.name, "team": name_or_id}
        )
    return team


async def create_team(
    session: AsyncSession, org: Account, name: str, description: str = ""
) -> Team:
    validate_account_name(name)
    if await get_team(session, org, name) is not None:
        raise DockyardError(ErrorCode.TEAM_EXISTS, detail={"name": name})
    team = Team(org_id=org.id, name=name, description=description)
    session.add(team)
    await session.flush()
    return team


async def update_team(
    session: AsyncSession, team: Team, *, name: str | None = None, description: str | None = None
) -> Team:
    if name is not None and name != team.name:
        validate_account_name(name)
        clash = await session.scalar(
            select(Team.id).where(Team.org_id == team.org_id, Team.name == name)
        )
        if clash:
            raise DockyardError(ErrorCode.TEAM_EXISTS, detail={"name": name})
        team.name = name
    if description is not None:
        team.description = description
    await session.flush()
    return team


async def delete_team(session: AsyncSession, team: Team) -> None:
    await session.delete(team)
    await session.flush()


async def team_member_count(session: AsyncSession, team: Team) -> int:
    n = await session.scalar(
        select(func.count()).select_from(TeamMember).where(TeamMember.team_id == team.id)
    )
    return int(n or 0)


def team_members_query(team: Team) -> Select[TeamMember, Account]:
    """A team's members with their accounts, unordered (the caller orders by name)."""
    return (
        select(TeamMember, Account)
        .join(Account, Account.id == TeamMember.user_id)
        .where(TeamMember.team_id == team.id)
    )


async def list_team_members(session: AsyncSession, team: Team) -> list[tuple[TeamMember, Account]]:
    rows = await session.execute(team_members_query(team).order_by(Account.name))
    return [(member, account) for member, account in rows]


async def get_team_member(session: AsyncSession, team: Team, user: Account) -> TeamMember | None:
    return await session.get(TeamMember, (team.id, user.id))


async def set_team_member(
    session: AsyncSession, org: Account, team: Team, user: Account, *, is_admin: bool = False
) -> TeamMember:
    """Add a user to a team (and to the team's organization, as eNZi does)."""
    if user.is_org:
        raise DockyardError(ErrorCode.NO_SUCH_USER, f"'{user.name}' is an organization.")
    if await get_org_member(session, org, user) is None:
        session.add(OrgMember(org_id=org.id, user_id=user.id, is_admin=False))
    member = await session.get(TeamMember, (team.id, user.id))
    if member is None:
        member = TeamMember(team_id=team.id, user_id=user.id, is_admin=is_admin)
        session.add(member)
    else:
        member.is_admin = is_admin
    await session.flush()
    return member


async def remove_team_member(session: AsyncSession, team: Team, user: Account) -> None:
    member = await session.get(TeamMember, (team.id, user.id))
    if member is None:
        raise DockyardError(
            ErrorCode.NO_SUCH_USER, f"'{user.name}' is not a member of team '{team.name}'."
        )
    await session.delete(member)
    await session.flush()
