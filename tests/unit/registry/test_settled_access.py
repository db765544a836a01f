"""`registry.access.settled_access` (the manifest GET's access decision from its own row, no
session) equals `auth.access.repository_access` (facts from the database, token scopes
applied) on every case it settles, and settles the common ones: a registry admin, the
namespace's own user, a public repository, a token whose scope decides."""

from __future__ import annotations

import asyncio
import itertools

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dockyard.accounts.models import Account, OrgMember, Team, TeamMember
from dockyard.accounts.principal import Principal
from dockyard.auth.access import repository_access
from dockyard.db.engine import create_engine, create_sessionmaker
from dockyard.db.migrate import upgrade
from dockyard.registry.access import settled_access
from dockyard.repos.models import NamespaceTeamAccess, Repository, RepositoryTeamAccess
from dockyard.rules.permissions import AccessLevel

# Tokens: None (password/API token: no limit), and bearer-token grants on the repository
# (`{name}` stands for it) or on another one.
TOKENS: list[tuple[tuple[str, frozenset[str]], ...] | None] = [
    None,
    (),
    (("{name}", frozenset({"pull"})),),
    (("{name}", frozenset({"pull", "push"})),),
    (("{name}", frozenset({"*"})),),
    (("{name}", frozenset()),),
    (("elsewhere/repo", frozenset({"pull", "push"})),),
]


async def _world(
    sessions: async_sessionmaker[AsyncSession],
) -> tuple[list[Principal | None], list[Repository]]:
    async with sessions() as s:
        users = {n: Account(name=n) for n in ("alice", "bob", "carol", "dave", "root")}
        users["root"].is_admin = True
        org = Account(name="acme", is_org=True)
        s.add_all([*users.values(), org])
        await s.flush()
        repos = [
            Repository(namespace_id=a.id, namespace=a.name, name=f"{vis}-{i}", visibility=vis)
            for a in (users["alice"], org)
            for i, vis in enumerate(("private", "public", "private"))
        ]
        s.add_all(repos)
        team = Team(org_id=org.id, name="devs")
        s.add(team)
        await s.flush()
        s.add_all(
            [
                OrgMember(org_id=org.id, user_id=users["bob"].id, is_admin=False),
                OrgMember(org_id=org.id, user_id=users["carol"].id, is_admin=True),
                OrgMember(org_id=org.id, user_id=users["dave"].id, is_admin=False),
                TeamMember(team_id=team.id, user_id=users["bob"].id),
                # bob's team: read-write on acme's first private repository.
                RepositoryTeamAccess(
                    repository_id=repos[3].id, team_id=team.id, access_level="read-write"
                ),
                NamespaceTeamAccess(namespace_id=org.id, team_id=team.id, access_level="read-only"),
            ]
        )
        await s.commit()
        principals: list[Principal | None] = [None]
        for user, token in itertools.product(users.values(), TOKENS):
            principals.append(Principal(user.id, user.name, user.is_admin, scopes=token))
        return principals, repos


def _scoped(principal: Principal | None, full_name: str) -> Principal | None:
    if principal is None or principal.scopes is None:
        return principal
    scopes = tuple((n.format(name=full_name), a) for n, a in principal.scopes)
    return Principal(principal.account_id, principal.name, principal.is_admin, scopes=scopes)


async def _compare(url: str) -> tuple[int, int]:
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    settled = unsettled = 0
    try:
        principals, repos = await _world(sessions)
        for raw, repo in itertools.product(principals, repos):
            principal = _scoped(raw, repo.full_name)
            namespace_is_org = repo.namespace == "acme"
            fast = settled_access(
                principal,
                repo.full_name,
                repo.namespace_id,
                namespace_is_org,
                repo.visibility == "public",
            )
            async with sessions() as session:
                loaded = await session.get(Repository, repo.id)
                assert loaded is not None
                full = await repository_access(session, principal, loaded)
            case = (principal, repo.full_name)
            if fast is None:
                unsettled += 1
                # Only an organization's namespace, for one of its non-admin users, needs more.
                assert namespace_is_org and principal is not None, case
                assert not principal.is_admin, case
            else:
                settled += 1
                assert fast == full, case
    finally:
        await engine.dispose()
    return settled, unsettled


def test_settled_access_equals_repository_access(database_url: str) -> None:
    upgrade(database_url)
    settled, unsettled = asyncio.run(_compare(database_url))
    assert settled > unsettled > 0


def test_the_common_pulls_are_settled() -> None:
    admin = Principal("id-root", "root", True)
    owner = Principal("id-alice", "alice", False)
    anon = None
    assert settled_access(admin, "acme/app", "id-acme", True, False) is AccessLevel.ADMIN
    assert settled_access(owner, "alice/app", "id-alice", False, False) is AccessLevel.ADMIN
    assert settled_access(anon, "acme/app", "id-acme", True, True) is AccessLevel.READ_ONLY
    assert settled_access(anon, "acme/app", "id-acme", True, False) is AccessLevel.NONE
    pull_token = Principal("id-bob", "bob", False, scopes=(("acme/app", frozenset({"pull"})),))
    assert settled_access(pull_token, "acme/app", "id-acme", True, True) is AccessLevel.READ_ONLY
    # An organization's member pulling a private repository: the teams decide.
    assert settled_access(pull_token, "acme/app", "id-acme", True, False) is None
