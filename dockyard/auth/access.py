"""What may this principal do to this repository or namespace: the one function every route uses.

Gathers facts from the database, then applies the pure rules in `permissions.py`.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts.models import Account, OrgMember, TeamMember
from dockyard.accounts.principal import Principal
from dockyard.repos.models import NamespaceTeamAccess, Repository, RepositoryTeamAccess
from dockyard.rules.permissions import (
    AccessFacts,
    AccessLevel,
    level_cap,
    resolve_namespace_access,
    resolve_repository_access,
)


async def _facts(
    session: AsyncSession,
    principal: Principal | None,
    namespace: Account | None,
    repository: Repository | None,
) -> AccessFacts:
    public = repository is not None and repository.visibility == "public"
    if principal is None:
        return AccessFacts(repository_public=public)
    if principal.is_admin:
        return AccessFacts(authenticated=True, is_registry_admin=True, repository_public=public)
    if namespace is None:
        return AccessFacts(authenticated=True, repository_public=public)
    if namespace.id == principal.account_id:
        return AccessFacts(authenticated=True, owns_namespace=True, repository_public=public)
    if not namespace.is_org:
        return AccessFacts(authenticated=True, repository_public=public)
    membership = await session.get(OrgMember, (namespace.id, principal.account_id))
    levels: list[AccessLevel] = []
    if membership is not None:
        team_ids = select(TeamMember.team_id).where(TeamMember.user_id == principal.account_id)
        ns_rows = await session.scalars(
            select(NamespaceTeamAccess.access_level).where(
                NamespaceTeamAccess.namespace_id == namespace.id,
                NamespaceTeamAccess.team_id.in_(team_ids),
            )
        )
        levels.extend(AccessLevel.from_wire(v) for v in ns_rows)
        if repository is not None:
            repo_rows = await session.scalars(
                select(RepositoryTeamAccess.access_level).where(
                    RepositoryTeamAccess.repository_id == repository.id,
                    RepositoryTeamAccess.team_id.in_(team_ids),
                )
            )
            levels.extend(AccessLevel.from_wire(v) for v in repo_rows)
    return AccessFacts(
        authenticated=True,
        is_org_owner=membership is not None and membership.is_admin,
        is_org_member=membership is not None,
        repository_public=public,
        team_levels=tuple(levels),
    )


async def repository_access(
    session: AsyncSession, principal: Principal | None, repository: Repository
) -> AccessLevel:
    namespace = await session.get(Account, repository.namespace_id)
    level = resolve_repository_access(await _facts(session, principal, namespace, repository))
    if principal is not None:
        # A registry bearer token never grants more than the actions it names.
        actions = principal.actions_for(repository.full_name)
        if actions is not None:
            level = min(level, level_cap(actions))
    return level


async def namespace_access(
    session: AsyncSession, principal: Principal | None, namespace: Account
) -> AccessLevel:
    level = resolve_namespace_access(await _facts(session, principal, namespace, None))
    if principal is not None and principal.scopes is not None:
        prefix = f"{namespace.name}/"
        granted: set[str] = set()
        for name, actions in principal.scopes:
            if name.startswith(prefix):
                granted |= actions
        level = min(level, level_cap(frozenset(granted)))
    return level


async def org_membership(
    session: AsyncSession, principal: Principal, org: Account
) -> OrgMember | None:
    """The caller's membership row in an organization (its `is_admin` makes an owner)."""
    return await session.get(OrgMember, (org.id, principal.account_id))
