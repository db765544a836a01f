"""Repository logic: look up, create, update and delete repositories, recording REPO_EVENTs.

Takes a session; the caller's unit of work commits. No HTTP here. Listings come as statements
(`readable_repositories`, `repository_team_access`, …) that the routes page in SQL; the read
filter is the rule of `rules.permissions` rendered in SQL, never restated here.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts.models import Account, OrgMember, Team, TeamMember
from dockyard.accounts.principal import Principal
from dockyard.clock import rfc3339, utcnow
from dockyard.errors import DockyardError, ErrorCode
from dockyard.events.bus import record
from dockyard.events.types import RepoEventKind, repo_event
from dockyard.repos.content import delete_repository_content
from dockyard.repos.models import (
    NamespaceTeamAccess,
    Repository,
    RepositoryTeamAccess,
)
from dockyard.rules.permissions import AccessLevel, RepositoryFactsSQL, repository_access_filter

# One path component of a distribution-spec name.
REPOSITORY_NAME_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
# Reserved because GET /api/v0/repositories/{ns}/webhooks lists a namespace's webhooks.
RESERVED_REPOSITORY_NAMES = frozenset({"webhooks"})


def validate_repository_name(name: str) -> None:
    if not (1 <= len(name) <= 255) or not REPOSITORY_NAME_RE.fullmatch(name):
        raise DockyardError(
            ErrorCode.INVALID_REPOSITORY_NAME,
            "Repository names use lowercase letters, digits and single separators (. _ -).",
            detail={"field": "name", "value": name},
        )
    if name in RESERVED_REPOSITORY_NAMES:
        raise DockyardError(
            ErrorCode.INVALID_REPOSITORY_NAME,
            f"'{name}' is a reserved repository name.",
            detail={"field": "name", "value": name},
        )


def repository_wire(repo: Repository, namespace_is_org: bool) -> dict[str, Any]:
    """The repository as MSR's API shows it (responses.Repository), plus dockyard extensions."""
    return {
        "id": repo.id,
        "namespace": repo.namespace,
        "namespaceType": "organization" if namespace_is_org else "user",
        "name": repo.name,
        "shortDescription": repo.short_description,
        "longDescription": repo.long_description,
        "visibility": repo.visibility,
        "scanOnPush": repo.scan_on_push,
        "immutableTags": repo.immutable_tags,
        "enableManifestLists": repo.enable_manifest_lists,
        "pulls": repo.pulls,
        "pushes": repo.pushes,
        "tagLimit": repo.tag_limit,
        "createdAt": rfc3339(repo.created_at),
        "updatedAt": rfc3339(repo.updated_at),
        "lastPushedAt": rfc3339(repo.last_pushed_at),
    }


async def get_repository(session: AsyncSession, namespace: str, name: str) -> Repository | None:
    stmt = select(Repository).where(Repository.namespace == namespace, Repository.name == name)
    result: Repository | None = await session.scalar(stmt)
    return result


async def create_repository(
    session: AsyncSession,
    namespace: Account,
    name: str,
    author: str,
    *,
    visibility: str = "private",
    short_description: str = "",
    long_description: str = "",
    scan_on_push: bool = True,
    immutable_tags: bool = False,
    enable_manifest_lists: bool = True,
    tag_limit: int = 0,
) -> Repository:
    """Create a repository and record REPO_CREATED. Authorization is the caller's job."""
    validate_repository_name(name)
    _check_visibility(visibility)
    if await get_repository(session, namespace.name, name) is not None:
        raise DockyardError(ErrorCode.REPOSITORY_EXISTS)
    now = utcnow()
    repo = Repository(
        namespace_id=namespace.id,
        namespace=namespace.name,
        name=name,
        visibility=visibility,
        short_description=short_description,
        long_description=long_description,
        scan_on_push=scan_on_push,
        immutable_tags=immutable_tags,
        enable_manifest_lists=enable_manifest_lists,
        tag_limit=tag_limit,
        pulls=0,
        pushes=0,
        created_at=now,
        updated_at=now,
    )
    session.add(repo)
    await session.flush()
    record(
        session,
        repo_event(
            RepoEventKind.REPO_CREATED,
            namespace.name,
            name,
            author,
            repository_wire(repo, namespace.is_org),
            now,
        ),
    )
    return repo


def _check_visibility(visibility: str) -> None:
    if visibility not in ("public", "private"):
        raise DockyardError(
            ErrorCode.INVALID_REPOSITORY_VISIBILITY,
            detail={"field": "visibility", "value": visibility[:100]},
        )


async def update_repository(
    session: AsyncSession,
    repo: Repository,
    namespace_is_org: bool,
    author: str,
    changes: dict[str, Any],
) -> Repository:
    """Apply MSR's UpdateRepo fields (wire names) and record REPO_UPDATED. No rename."""
    new_name = changes.get("name")
    if new_name is not None and new_name != repo.name:
        raise DockyardError(
            ErrorCode.INVALID_PARAMETERS,
            "Repositories cannot be renamed.",
            detail={"field": "name", "value": str(new_name)[:300]},
        )
    columns = {
        "shortDescription": "short_description",
        "longDescription": "long_description",
        "visibility": "visibility",
        "scanOnPush": "scan_on_push",
        "immutableTags": "immutable_tags",
        "enableManifestLists": "enable_manifest_lists",
        "tagLimit": "tag_limit",
    }
    if changes.get("visibility") is not None:
        _check_visibility(changes["visibility"])
    now = utcnow()
    for wire, column in columns.items():
        value = changes.get(wire)
        if value is not None:
            setattr(repo, column, value)
    repo.updated_at = now
    await session.flush()
    record(
        session,
        repo_event(
            RepoEventKind.REPO_UPDATED,
            repo.namespace,
            repo.name,
            author,
            repository_wire(repo, namespace_is_org),
            now,
        ),
    )
    return repo


async def delete_repository(session: AsyncSession, repo: Repository, author: str) -> None:
    """Delete a repository and its tags, manifests and blob links (blobs: gc), REPO_DELETED."""
    await delete_repository_content(session, repo)
    namespace, name = repo.namespace, repo.name
    await session.delete(repo)
    await session.flush()
    record(session, repo_event(RepoEventKind.REPO_DELETED, namespace, name, author, None, utcnow()))


def _read_facts(principal: Principal | None) -> RepositoryFactsSQL:
    """The principal's facts about each `Repository` row, as SQL for the rule's rendering."""
    public = Repository.visibility == "public"
    if principal is None:
        return RepositoryFactsSQL(repository_public=public)
    if principal.is_admin:
        return RepositoryFactsSQL(repository_public=public, is_registry_admin=true())
    me = principal.account_id
    member_orgs = select(OrgMember.org_id).where(OrgMember.user_id == me)
    owned_orgs = member_orgs.where(OrgMember.is_admin.is_(True))
    my_teams = select(TeamMember.team_id).where(TeamMember.user_id == me)

    def team_level_in(levels: tuple[str, ...]) -> ColumnElement[bool]:
        on_repo = select(RepositoryTeamAccess.repository_id).where(
            RepositoryTeamAccess.team_id.in_(my_teams),
            RepositoryTeamAccess.access_level.in_(levels),
        )
        on_namespace = select(NamespaceTeamAccess.namespace_id).where(
            NamespaceTeamAccess.team_id.in_(my_teams),
            NamespaceTeamAccess.access_level.in_(levels),
        )
        return or_(Repository.id.in_(on_repo), Repository.namespace_id.in_(on_namespace))

    return RepositoryFactsSQL(
        repository_public=public,
        owns_namespace=Repository.namespace_id == me,
        is_org_owner=Repository.namespace_id.in_(owned_orgs),
        is_org_member=Repository.namespace_id.in_(member_orgs),
        team_level_in=team_level_in,
    )


def readable_repositories(
    principal: Principal | None,
    namespace: Account | None = None,
    need: AccessLevel = AccessLevel.READ_ONLY,
) -> Select[Repository, bool]:
    """Repositories on which the principal holds `need` (by default: may read), each with
    whether its namespace is an organization (unordered: the caller pages or orders). The
    filter is the rule of `rules.permissions` rendered in SQL, so a list and the access check
    cannot disagree. (A registry bearer token's cap is not applied: the APIs take no such
    token.)"""
    stmt = (
        select(Repository, Account.is_org)
        .join(Account, Account.id == Repository.namespace_id)
        .where(repository_access_filter(_read_facts(principal), need))
    )
    if namespace is not None:
        stmt = stmt.where(Repository.namespace_id == namespace.id)
    return stmt


async def list_repositories(
    session: AsyncSession, principal: Principal | None, namespace: Account | None = None
) -> list[tuple[Repository, bool]]:
    """Every repository the principal may at least read, ordered by "namespace/name"."""
    stmt = readable_repositories(principal, namespace).order_by(
        Repository.namespace, Repository.name
    )
    rows = await session.execute(stmt)
    return [(repo, bool(is_org)) for repo, is_org in rows]


# --- team access -------------------------------------------------------------------------------


def parse_access_level(value: str) -> str:
    if value not in ("read-only", "read-write", "admin"):
        raise DockyardError(
            ErrorCode.INVALID_PARAMETERS,
            "accessLevel must be read-only, read-write or admin.",
            detail={"field": "accessLevel", "value": value[:100]},
        )
    return value


def repository_team_access(repo: Repository) -> Select[RepositoryTeamAccess, Team]:
    """The team grants on a repository with their teams (unordered: the caller pages by name)."""
    return (
        select(RepositoryTeamAccess, Team)
        .join(Team, Team.id == RepositoryTeamAccess.team_id)
        .where(RepositoryTeamAccess.repository_id == repo.id)
    )


async def list_repository_team_access(
    session: AsyncSession, repo: Repository
) -> list[tuple[RepositoryTeamAccess, Team]]:
    rows = await session.execute(repository_team_access(repo).order_by(Team.name))
    return [(grant, team) for grant, team in rows]


async def set_repository_team_access(
    session: AsyncSession, repo: Repository, team: Team, level: str
) -> RepositoryTeamAccess:
    parse_access_level(level)
    if team.org_id != repo.namespace_id:
        raise DockyardError(
            ErrorCode.INVALID_PARAMETERS,
            "The team must belong to the organization that owns the repository.",
            detail={"team": team.name},
        )
    grant = await session.get(RepositoryTeamAccess, (repo.id, team.id))
    if grant is None:
        grant = RepositoryTeamAccess(repository_id=repo.id, team_id=team.id, access_level=level)
        session.add(grant)
    else:
        grant.access_level = level
    await session.flush()
    return grant


async def delete_repository_team_access(
    session: AsyncSession, repo: Repository, team: Team
) -> None:
    grant = await session.get(RepositoryTeamAccess, (repo.id, team.id))
    if grant is not None:
        await session.delete(grant)
        await session.flush()


def namespace_team_access(namespace: Account) -> Select[NamespaceTeamAccess, Team]:
    """The team grants on a namespace with their teams (unordered: the caller pages by name)."""
    return (
        select(NamespaceTeamAccess, Team)
        .join(Team, Team.id == NamespaceTeamAccess.team_id)
        .where(NamespaceTeamAccess.namespace_id == namespace.id)
    )


async def list_namespace_team_access(
    session: AsyncSession, namespace: Account
) -> list[tuple[NamespaceTeamAccess, Team]]:
    rows = await session.execute(namespace_team_access(namespace).order_by(Team.name))
    return [(grant, team) for grant, team in rows]


async def get_namespace_team_access(
    session: AsyncSession, namespace: Account, team: Team
) -> NamespaceTeamAccess | None:
    return await session.get(NamespaceTeamAccess, (namespace.id, team.id))


async def set_namespace_team_access(
    session: AsyncSession, namespace: Account, team: Team, level: str
) -> NamespaceTeamAccess:
    parse_access_level(level)
    if team.org_id != namespace.id:
        raise DockyardError(
            ErrorCode.INVALID_PARAMETERS,
            "The team must belong to the organization.",
            detail={"team": team.name},
        )
    grant = await get_namespace_team_access(session, namespace, team)
    if grant is None:
        grant = NamespaceTeamAccess(namespace_id=namespace.id, team_id=team.id, access_level=level)
        session.add(grant)
    else:
        grant.access_level = level
    await session.flush()
    return grant


async def delete_namespace_team_access(
    session: AsyncSession, namespace: Account, team: Team
) -> None:
    grant = await get_namespace_team_access(session, namespace, team)
    if grant is None:
        raise DockyardError(ErrorCode.NO_SUCH_NAMESPACE_TEAM_ACCESS, detail={"team": team.name})
    await session.delete(grant)
    await session.flush()
