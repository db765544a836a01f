"""Team access to repositories and namespaces of organizations (MSR): /api/v0/repositories/
{ns}/{name}/teamAccess and /api/v0/repositoryNamespaces/{ns}/teamAccess; and the same grants seen
from the accounts side: a team's repositories (/api/v0/accounts/{org}/teams/{team}/
repositoryAccess) and one user's level on a repository (/api/v0/accounts/{user}/repositoryAccess/
{ns}/{name}).

Thin, like `repos.routes` (both use `repos.lookups`): parse, authorize through `auth.access`, call
`repos.service`, shape the answer; the unit of work commits.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts import service as accounts
from dockyard.accounts.models import Account, Team
from dockyard.accounts.principal import Principal
from dockyard.accounts.schemas import AccountOut, team_wire
from dockyard.api.pagination import Keyset, PageParams, keyset_page, page_params, set_page_headers
from dockyard.api.responses import errors
from dockyard.api.routing import AuthenticateFirstRoute
from dockyard.api.uow import UnitOfWork
from dockyard.auth.access import repository_access
from dockyard.auth.deps import require_principal
from dockyard.auth.orgs import forbidden, is_org_owner, require_org_member
from dockyard.errors import DockyardError, ErrorCode
from dockyard.repos import service as repos
from dockyard.repos.access_schemas import TeamRepositoryAccessList, UserRepositoryAccessOut
from dockyard.repos.lookups import namespace_named, repository_for, require_namespace_admin
from dockyard.repos.models import Repository
from dockyard.repos.schemas import (
    Access,
    NamespaceTeamAccessList,
    NamespaceTeamAccessOut,
    RepositoryTeamAccessList,
    RepositoryTeamAccessOut,
)
from dockyard.repos.team_grants import team_repository_access
from dockyard.rules.permissions import AccessLevel

router = APIRouter(prefix="/api/v0", tags=["repositories"], route_class=AuthenticateFirstRoute)

# Team names are unique within an organization, and every grant listed is of one organization.
GRANT_PAGES: Keyset[Any] = Keyset((Team.name,), lambda token: (token,), lambda row: row[1].name)
# A team's grants are on its organization's repositories, whose names are unique there.
TEAM_GRANT_PAGES: Keyset[Any] = Keyset(
    (Repository.name,), lambda token: (token,), lambda row: row[1].name
)


def _grant_wire(level: str, team: Team) -> dict[str, Any]:
    return {"accessLevel": level, "team": team_wire(team, 0)}


def _ns_grant_wire(level: str, team: Team, namespace: Account) -> dict[str, Any]:
    return {**_grant_wire(level, team), "namespace": namespace.name}


async def _org_repository(
    session: AsyncSession, principal: Principal, namespace: str, name: str, what: str
) -> tuple[Repository, Account]:
    repo, account = await repository_for(
        session, principal, namespace, name, AccessLevel.ADMIN, what
    )
    if not account.is_org:
        raise DockyardError(
            ErrorCode.INVALID_PARAMETERS,
            "Team access applies to repositories of organizations only.",
            detail={"namespace": namespace},
        )
    return repo, account


async def _org_namespace(session: AsyncSession, namespace: str) -> Account:
    account = await namespace_named(session, namespace)
    if not account.is_org:
        raise DockyardError(
            ErrorCode.INVALID_PARAMETERS,
            "Team access applies to organizations only.",
            detail={"namespace": namespace},
        )
    return account


# --- team access on a repository -------------------------------------------------------------


@router.get(
    "/repositories/{namespace}/{name}/teamAccess",
    response_model=RepositoryTeamAccessList,
    summary="List the teams granted access to a repository",
    responses=errors(400, 401, 403, 404),
)
async def list_repo_team_access(
    session: UnitOfWork,
    response: Response,
    namespace: str,
    name: str,
    params: PageParams = Depends(page_params),
    principal: Principal = Depends(require_principal),
) -> dict[str, Any]:
    repo, account = await _org_repository(
        session, principal, namespace, name, "see this repository's team access"
    )
    page = await keyset_page(session, repos.repository_team_access(repo), GRANT_PAGES, params)
    set_page_headers(response, page, params)
    return {
        "repository": repos.repository_wire(repo, account.is_org),
        "teamAccessList": [_grant_wire(g.access_level, t) for g, t in page.items],
    }


@router.put(
    "/repositories/{namespace}/{name}/teamAccess/{team}",
    response_model=RepositoryTeamAccessOut,
    summary="Grant a team access to a repository",
    responses=errors(400, 401, 403, 404, 413),
)
async def put_repo_team_access(
    session: UnitOfWork,
    namespace: str,
    name: str,
    team: str,
    form: Access,
    principal: Principal = Depends(require_principal),
) -> dict[str, Any]:
    repo, account = await _org_repository(session, principal, namespace, name, "grant team access")
    row = await accounts.require_team(session, account, team)
    grant = await repos.set_repository_team_access(session, repo, row, form.accessLevel)
    return {
        **_grant_wire(grant.access_level, row),
        "repository": repos.repository_wire(repo, account.is_org),
    }


@router.delete(
    "/repositories/{namespace}/{name}/teamAccess/{team}",
    status_code=204,
    response_class=Response,
    summary="Revoke a team's access to a repository",
    responses=errors(400, 401, 403, 404),
)
async def delete_repo_team_access(
    session: UnitOfWork,
    namespace: str,
    name: str,
    team: str,
    principal: Principal = Depends(require_principal),
) -> None:
    repo, account = await _org_repository(session, principal, namespace, name, "revoke team access")
    row = await accounts.require_team(session, account, team)
    await repos.delete_repository_team_access(session, repo, row)


# --- team access on a whole namespace --------------------------------------------------------


@router.get(
    "/repositoryNamespaces/{namespace}/teamAccess",
    response_model=NamespaceTeamAccessList,
    summary="List the teams granted access to a namespace",
    responses=errors(400, 401, 403, 404),
)
async def list_namespace_team_access(
    session: UnitOfWork,
    response: Response,
    namespace: str,
    params: PageParams = Depends(page_params),
    principal: Principal = Depends(require_principal),
) -> dict[str, Any]:
    account = await _org_namespace(session, namespace)
    await require_org_member(session, principal, account)
    page = await keyset_page(session, repos.namespace_team_access(account), GRANT_PAGES, params)
    set_page_headers(response, page, params)
    return {
        "namespace": account.name,
        "teamAccessList": [_ns_grant_wire(g.access_level, t, account) for g, t in page.items],
    }


@router.get(
    "/repositoryNamespaces/{namespace}/teamAccess/{team}",
    response_model=NamespaceTeamAccessOut,
    summary="Get a team's access to a namespace",
    responses=errors(400, 401, 403, 404),
)
async def get_namespace_team_access(
    session: UnitOfWork,
    namespace: str,
    team: str,
    principal: Principal = Depends(require_principal),
) -> dict[str, Any]:
    account = await _org_namespace(session, namespace)
    await require_org_member(session, principal, account)
    row = await accounts.require_team(session, account, team)
    grant = await repos.get_namespace_team_access(session, account, row)
    if grant is None:
        raise DockyardError(ErrorCode.NO_SUCH_NAMESPACE_TEAM_ACCESS, detail={"team": team})
    return _ns_grant_wire(grant.access_level, row, account)


@router.put(
    "/repositoryNamespaces/{namespace}/teamAccess/{team}",
    response_model=NamespaceTeamAccessOut,
    summary="Grant a team access to every repository of a namespace",
    responses=errors(400, 401, 403, 404, 413),
)
async def put_namespace_team_access(
    session: UnitOfWork,
    namespace: str,
    team: str,
    form: Access,
    principal: Principal = Depends(require_principal),
) -> dict[str, Any]:
    account = await _org_namespace(session, namespace)
    await require_namespace_admin(session, principal, account, f"grant access to '{namespace}'")
    row = await accounts.require_team(session, account, team)
    grant = await repos.set_namespace_team_access(session, account, row, form.accessLevel)
    return _ns_grant_wire(grant.access_level, row, account)


@router.delete(
    "/repositoryNamespaces/{namespace}/teamAccess/{team}",
    status_code=204,
    response_class=Response,
    summary="Revoke a team's access to a namespace",
    responses=errors(400, 401, 403, 404),
)
async def delete_namespace_team_access(
    session: UnitOfWork,
    namespace: str,
    team: str,
    principal: Principal = Depends(require_principal),
) -> None:
    account = await _org_namespace(session, namespace)
    await require_namespace_admin(session, principal, account, f"revoke access to '{namespace}'")
    row = await accounts.require_team(session, account, team)
    await repos.delete_namespace_team_access(session, account, row)


# --- the accounts side: a team's repositories, a user's level ------------------------------


async def _may_see_team_grants(session: AsyncSession, principal: Principal, team: Team) -> bool:
    """MSR: the organization's owners (and registry admins) or the team's own members."""
    org = await accounts.require_org(session, team.org_id)
    if await is_org_owner(session, principal, org):
        return True
    caller = await accounts.require_user(session, principal.account_id)
    return await accounts.get_team_member(session, team, caller) is not None


@router.get(
    "/accounts/{org}/teams/{team}/repositoryAccess",
    response_model=TeamRepositoryAccessList,
    summary="List the repositories a team is granted",
    responses=errors(400, 401, 403, 404),
)
async def list_team_repository_access(
    session: UnitOfWork,
    response: Response,
    org: str,
    team: str,
    params: PageParams = Depends(page_params),
    principal: Principal = Depends(require_principal),
) -> dict[str, Any]:
    account = await accounts.require_org(session, org)
    row = await accounts.require_team(session, account, team)
    if not await _may_see_team_grants(session, principal, row):
        raise forbidden(
            f"Only owners of '{account.name}' and members of '{row.name}' may see this."
        )
    page = await keyset_page(session, team_repository_access(row), TEAM_GRANT_PAGES, params)
    set_page_headers(response, page, params)
    members = await accounts.team_member_count(session, row)
    return {
        "team": team_wire(row, members),
        "repositoryAccessList": [
            {"accessLevel": g.access_level, "repository": repos.repository_wire(r, True)}
            for g, r in page.items
        ],
    }


@router.get(
    "/accounts/{user}/repositoryAccess/{namespace}/{name}",
    response_model=UserRepositoryAccessOut,
    response_model_exclude_none=True,
    summary="A user's access level on a repository",
    responses=errors(401, 403, 404),
)
async def get_user_repository_access(
    session: UnitOfWork,
    user: str,
    namespace: str,
    name: str,
    principal: Principal = Depends(require_principal),
) -> dict[str, Any]:
    account = await accounts.require_user(session, user)
    if account.id != principal.account_id and not principal.is_admin:
        raise forbidden("Only the user in question and administrators may see this.")
    repo, owner = await repository_for(
        session, principal, namespace, name, AccessLevel.READ_ONLY, "see this repository"
    )
    # A deactivated user can do nothing, whatever their grants say.
    level = AccessLevel.NONE
    if account.is_active:
        subject = Principal(account.id, account.name, account.is_admin)
        level = await repository_access(session, subject, repo)
    return {
        "accessLevel": level.wire,
        "user": AccountOut.of(account).model_dump(exclude_none=True),
        "repository": repos.repository_wire(repo, owner.is_org),
    }
