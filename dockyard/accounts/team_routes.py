"""eNZi's organization members and teams at /enzi/v0/accounts/{org}/members and .../teams, and
teams' members.

Thin: parse (the schemas), authorize (`auth.orgs`: an organization's members see its members and
teams, its owners and registry admins manage them; a member may leave), call `accounts.service`,
shape the answer. Lists are keyset pages in SQL, by name. The unit of work commits.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response

from dockyard.accounts import service as accounts
from dockyard.accounts.models import Account, Team
from dockyard.accounts.principal import Principal
from dockyard.accounts.schemas import (
    CreateTeam,
    MemberList,
    MemberOut,
    Membership,
    TeamList,
    TeamOut,
    UpdateTeam,
)
from dockyard.api.pagination import (
    Keyset,
    PageParams,
    enzi_page_params,
    keyset_page,
    set_page_headers,
)
from dockyard.api.responses import errors
from dockyard.api.routing import AuthenticateFirstRoute
from dockyard.api.uow import UnitOfWork
from dockyard.auth.deps import require_principal
from dockyard.auth.orgs import require_org_member, require_org_owner
from dockyard.errors import DockyardError, ErrorCode

router = APIRouter(
    prefix="/enzi/v0/accounts",
    tags=["organizations and teams (eNZi)"],
    route_class=AuthenticateFirstRoute,
)
Caller = Depends(require_principal)
AUTH = (401, 429)

# Members are (member row, account) rows listed by the account's name; teams by their name
# (unique within the organization). A page starts at a name.
MEMBERS_BY_NAME: Keyset[Any] = Keyset(
    columns=(Account.name,), parse=lambda start: (start,), token=lambda row: row[1].name
)
TEAMS_BY_NAME: Keyset[Any] = Keyset(
    columns=(Team.name,), parse=lambda start: (start,), token=lambda row: row[0].name
)

# --- organization members --------------------------------------------------------------------


@router.get(
    "/{org}/members",
    summary="List an organization's members",
    response_model=MemberList,
    response_model_exclude_none=True,
    responses=errors(400, *AUTH, 403, 404),
)
async def list_members(
    org: str,
    response: Response,
    session: UnitOfWork,
    params: PageParams = Depends(enzi_page_params),
    principal: Principal = Caller,
) -> MemberList:
    account = await accounts.require_org(session, org)
    await require_org_member(session, principal, account)
    page = await keyset_page(session, accounts.org_members_query(account), MEMBERS_BY_NAME, params)
    set_page_headers(response, page, params)
    return MemberList(
        members=[MemberOut.of(member, who) for member, who in page.items],
        nextPageStart=page.next_start,
    )


@router.get(
    "/{org}/members/{user}",
    summary="Read an organization's member",
    response_model=MemberOut,
    response_model_exclude_none=True,
    responses=errors(*AUTH, 403, 404),
)
async def get_member(
    org: str, user: str, session: UnitOfWork, principal: Principal = Caller
) -> MemberOut:
    account = await accounts.require_org(session, org)
    await require_org_member(session, principal, account)
    member_account = await accounts.require_user(session, user)
    member = await accounts.get_org_member(session, account, member_account)
    if member is None:
        raise DockyardError(ErrorCode.NO_SUCH_USER, f"'{user}' is not a member of '{org}'.")
    return MemberOut.of(member, member_account)


@router.put(
    "/{org}/members/{user}",
    summary="Add a member to an organization, or change whether they own it",
    response_model=MemberOut,
    response_model_exclude_none=True,
    responses=errors(400, *AUTH, 403, 404, 413),
)
async def put_member(
    org: str,
    user: str,
    session: UnitOfWork,
    form: Membership | None = None,
    principal: Principal = Caller,
) -> MemberOut:
    account = await accounts.require_org(session, org)
    await require_org_owner(session, principal, account)
    member_account = await accounts.require_user(session, user)
    member = await accounts.set_org_member(
        session, account, member_account, is_admin=form.isAdmin if form else False
    )
    return MemberOut.of(member, member_account)


@router.delete(
    "/{org}/members/{user}",
    status_code=204,
    summary="Remove a member from an organization (and its teams), or leave it",
    response_class=Response,
    responses=errors(*AUTH, 403, 404),
)
async def delete_member(
    org: str, user: str, session: UnitOfWork, principal: Principal = Caller
) -> None:
    account = await accounts.require_org(session, org)
    member_account = await accounts.require_user(session, user)
    if member_account.id != principal.account_id:
        await require_org_owner(session, principal, account)
    await accounts.remove_org_member(session, account, member_account)


# --- teams -----------------------------------------------------------------------------------


@router.get(
    "/{org}/teams",
    summary="List an organization's teams",
    response_model=TeamList,
    responses=errors(400, *AUTH, 403, 404),
)
async def list_teams(
    org: str,
    response: Response,
    session: UnitOfWork,
    params: PageParams = Depends(enzi_page_params),
    principal: Principal = Caller,
) -> TeamList:
    account = await accounts.require_org(session, org)
    await require_org_member(session, principal, account)
    page = await keyset_page(session, accounts.teams_query(account), TEAMS_BY_NAME, params)
    set_page_headers(response, page, params)
    return TeamList(
        teams=[TeamOut.of(team, members) for team, members in page.items],
        nextPageStart=page.next_start,
    )


@router.post(
    "/{org}/teams",
    status_code=201,
    summary="Create a team",
    response_model=TeamOut,
    responses=errors(400, *AUTH, 403, 404, 413),
)
async def create_team(
    org: str, form: CreateTeam, session: UnitOfWork, principal: Principal = Caller
) -> TeamOut:
    account = await accounts.require_org(session, org)
    await require_org_owner(session, principal, account)
    team = await accounts.create_team(session, account, form.name, form.description)
    return TeamOut.of(team, 0)


@router.get(
    "/{org}/teams/{team}",
    summary="Read a team",
    response_model=TeamOut,
    responses=errors(*AUTH, 403, 404),
)
async def get_team(
    org: str, team: str, session: UnitOfWork, principal: Principal = Caller
) -> TeamOut:
    account = await accounts.require_org(session, org)
    await require_org_member(session, principal, account)
    row = await accounts.require_team(session, account, team)
    return TeamOut.of(row, await accounts.team_member_count(session, row))


@router.patch(
    "/{org}/teams/{team}",
    summary="Rename a team or change its description",
    response_model=TeamOut,
    responses=errors(400, *AUTH, 403, 404, 413),
)
async def update_team(
    org: str, team: str, form: UpdateTeam, session: UnitOfWork, principal: Principal = Caller
) -> TeamOut:
    account = await accounts.require_org(session, org)
    await require_org_owner(session, principal, account)
    row = await accounts.require_team(session, account, team)
    await accounts.update_team(session, row, name=form.name, description=form.description)
    return TeamOut.of(row, await accounts.team_member_count(session, row))


@router.delete(
    "/{org}/teams/{team}",
    status_code=204,
    summary="Delete a team",
    response_class=Response,
    responses=errors(*AUTH, 403, 404),
)
async def delete_team(
    org: str, team: str, session: UnitOfWork, principal: Principal = Caller
) -> None:
    account = await accounts.require_org(session, org)
    await require_org_owner(session, principal, account)
    await accounts.delete_team(session, await accounts.require_team(session, account, team))


# --- team members ----------------------------------------------------------------------------


@router.get(
    "/{org}/teams/{team}/members",
    summary="List a team's members",
    response_model=MemberList,
    response_model_exclude_none=True,
    responses=errors(400, *AUTH, 403, 404),
)
async def list_team_members(
    org: str,
    team: str,
    response: Response,
    session: UnitOfWork,
    params: PageParams = Depends(enzi_page_params),
    principal: Principal = Caller,
) -> MemberList:
    account = await accounts.require_org(session, org)
    await require_org_member(session, principal, account)
    row = await accounts.require_team(session, account, team)
    page = await keyset_page(session, accounts.team_members_query(row), MEMBERS_BY_NAME, params)
    set_page_headers(response, page, params)
    return MemberList(
        members=[MemberOut.of(member, who) for member, who in page.items],
        nextPageStart=page.next_start,
    )


@router.get(
    "/{org}/teams/{team}/members/{user}",
    summary="Read a team's member",
    response_model=MemberOut,
    response_model_exclude_none=True,
    responses=errors(*AUTH, 403, 404),
)
async def get_team_member(
    org: str, team: str, user: str, session: UnitOfWork, principal: Principal = Caller
) -> MemberOut:
    account = await accounts.require_org(session, org)
    await require_org_member(session, principal, account)
    row = await accounts.require_team(session, account, team)
    member_account = await accounts.require_user(session, user)
    member = await accounts.get_team_member(session, row, member_account)
    if member is None:
        raise DockyardError(ErrorCode.NO_SUCH_USER, f"'{user}' is not a member of '{team}'.")
    return MemberOut.of(member, member_account)


@router.put(
    "/{org}/teams/{team}/members/{user}",
    summary="Add a member to a team (and to its organization)",
    response_model=MemberOut,
    response_model_exclude_none=True,
    responses=errors(400, *AUTH, 403, 404, 413),
)
async def put_team_member(
    org: str,
    team: str,
    user: str,
    session: UnitOfWork,
    form: Membership | None = None,
    principal: Principal = Caller,
) -> MemberOut:
    account = await accounts.require_org(session, org)
    await require_org_owner(session, principal, account)
    row = await accounts.require_team(session, account, team)
    member_account = await accounts.require_user(session, user)
    member = await accounts.set_team_member(
        session, account, row, member_account, is_admin=form.isAdmin if form else False
    )
    return MemberOut.of(member, member_account)


@router.delete(
    "/{org}/teams/{team}/members/{user}",
    status_code=204,
    summary="Remove a member from a team",
    response_class=Response,
    responses=errors(*AUTH, 403, 404),
)
async def delete_team_member(
    org: str, team: str, user: str, session: UnitOfWork, principal: Principal = Caller
) -> None:
    account = await accounts.require_org(session, org)
    await require_org_owner(session, principal, account)
    row = await accounts.require_team(session, account, team)
    member_account = await accounts.require_user(session, user)
    await accounts.remove_team_member(session, row, member_account)
