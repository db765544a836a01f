"""The delivery process's own reading of an author's access (`webhooks.authors`, which may not
import `dockyard.auth`) gives the same answer as the request side's `auth.access` for every kind
of grant: own namespace, organization owner, team grants on the namespace or the repository,
plain members, strangers, deactivated and missing authors, missing keys."""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts.models import Account, OrgMember, Team, TeamMember
from dockyard.accounts.principal import Principal
from dockyard.auth.access import namespace_access, repository_access
from dockyard.db.engine import create_engine, create_sessionmaker
from dockyard.db.migrate import upgrade
from dockyard.repos.models import NamespaceTeamAccess, Repository, RepositoryTeamAccess
from dockyard.rules.permissions import AccessLevel
from dockyard.webhooks.authors import AuthorAccess

USERS = ("owner", "orgadmin", "nsadmin", "repoadmin", "writer", "member", "stranger", "off")


async def _seed(session: AsyncSession) -> None:
    add = session.add
    for name in USERS:
        add(Account(id=name, name=name, is_active=name != "off"))
    add(Account(id="org", name="org", is_org=True))
    add(Repository(id="r-own", namespace_id="owner", namespace="owner", name="app"))
    add(Repository(id="r-org", namespace_id="org", namespace="org", name="app"))
    for name in ("orgadmin", "nsadmin", "repoadmin", "writer", "member", "off"):
        add(OrgMember(org_id="org", user_id=name, is_admin=name in ("orgadmin", "off")))
    for team, user in (("t-ns", "nsadmin"), ("t-repo", "repoadmin"), ("t-w", "writer")):
        add(Team(id=team, org_id="org", name=team))
        add(TeamMember(team_id=team, user_id=user))
    add(NamespaceTeamAccess(namespace_id="org", team_id="t-ns", access_level="admin"))
    add(RepositoryTeamAccess(repository_id="r-org", team_id="t-repo", access_level="admin"))
    add(RepositoryTeamAccess(repository_id="r-org", team_id="t-w", access_level="read-write"))
    # A stranger's team grant counts for nothing: only members' teams count.
    add(Team(id="t-x", org_id="org", name="t-x"))
    add(TeamMember(team_id="t-x", user_id="stranger"))
    add(NamespaceTeamAccess(namespace_id="org", team_id="t-x", access_level="admin"))
    await session.commit()


async def _request_side(session: AsyncSession, user: str, scope: str, key: str) -> bool:
    """May `user` create this subscription, as the API decides it (`auth.access`)?"""
    account = await session.get(Account, user)
    assert account is not None
    principal = Principal(account.id, account.name, False)
    if scope == "repo":
        ns, _, name = key.partition("/")
        repo = await session.scalar(
            select(Repository).where(Repository.namespace == ns, Repository.name == name)
        )
        assert repo is not None
        return await repository_access(session, principal, repo) >= AccessLevel.ADMIN
    namespace = await session.get(Account, key)
    assert namespace is not None
    return await namespace_access(session, principal, namespace) >= AccessLevel.ADMIN


async def _scenario(url: str) -> None:
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    try:
        async with sessions() as session:
            await _seed(session)
        cases = [("repo", "owner/app"), ("repo", "org/app"), ("ns", "org"), ("ns", "owner")]
        agreed = 0
        async with sessions() as session:
            access = AuthorAccess(session)
            await access.load(USERS)
            for user in USERS:
                if user == "off":
                    continue
                for scope, key in cases:
                    event = "TAG_PUSH" if scope == "repo" else "REPO_EVENT"
                    lost = await access.lost_access(user, event, key)
                    expected = await _request_side(session, user, scope, key)
                    assert (lost is None) == expected, (user, scope, key, lost)
                    agreed += 1
            # The grants the scenario is about, spelled out (the agreement alone would pass
            # if both sides were wrong the same way).
            assert await access.lost_access("repoadmin", "TAG_PUSH", "org/app") is None
            assert await access.lost_access("nsadmin", "REPO_EVENT", "org") is None
            assert await access.lost_access("orgadmin", "TAG_PUSH", "org/app") is None
            assert "no longer has admin" in str(
                await access.lost_access("writer", "TAG_PUSH", "org/app")
            )
            assert "no longer has admin" in str(
                await access.lost_access("stranger", "REPO_EVENT", "org")
            )
            assert "deactivated" in str(await access.lost_access("off", "TAG_PUSH", "org/app"))
            assert "no longer exists" in str(
                await access.lost_access("gone", "TAG_PUSH", "org/app")
            )
            assert await access.lost_access("owner", "TAG_PUSH", "owner/nope") == (
                "The repository owner/nope no longer exists."
            )
            assert await access.lost_access("owner", "REPO_EVENT", "nobody") == (
                "The namespace nobody no longer exists."
            )
        assert agreed == 28
    finally:
        await engine.dispose()


def test_authors_agree_with_the_request_side(database_url: str) -> None:
    upgrade(database_url)
    asyncio.run(_scenario(database_url))
