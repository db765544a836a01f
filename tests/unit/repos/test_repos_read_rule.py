"""One rule, two renderings: the repository access rule of `rules.permissions` as the Python
predicate the access check uses and as the SQL filter the listings use must agree.

Two checks. The pure one enumerates every combination of facts (registry admin, namespace owner,
org owner, org member, public/private, each set of team levels) and evaluates the SQL rendering
with those facts as bound values on SQLite. The data one builds a database holding one
repository per situation (own/other user namespace; organizations where the caller is no member,
a member or an owner; team grants on the repository or the namespace, at each level, with the
caller in the team or not) and checks, for each caller and each level, that `repos.service`'s
listing holds exactly the repositories `auth.access.repository_access` grants that level on.
An inactive account never becomes a principal (`accounts.authenticate` refuses it: see
tests/unit/accounts/test_deactivated_access.py), so it is the anonymous caller here.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

import pytest
from sqlalchemy import Boolean, ColumnElement, create_engine, false, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dockyard.accounts.models import Account, OrgMember, Team, TeamMember
from dockyard.accounts.principal import Principal
from dockyard.auth.access import repository_access
from dockyard.db.engine import create_engine as create_async_engine
from dockyard.db.engine import create_sessionmaker
from dockyard.db.migrate import upgrade
from dockyard.repos.models import NamespaceTeamAccess, Repository, RepositoryTeamAccess
from dockyard.repos.service import readable_repositories
from dockyard.rules.permissions import (
    AccessFacts,
    AccessLevel,
    RepositoryFactsSQL,
    repository_access_filter,
    resolve_repository_access,
)

LEVELS = (AccessLevel.READ_ONLY, AccessLevel.READ_WRITE, AccessLevel.ADMIN)
NEEDS = tuple(AccessLevel)


def _fact_combinations() -> Iterator[AccessFacts]:
    for flags in itertools.product((False, True), repeat=5):
        admin, owner, org_owner, member, public = flags
        for count in range(len(LEVELS) + 1):
            for team_levels in itertools.combinations(LEVELS, count):
                yield AccessFacts(
                    authenticated=True,
                    is_registry_admin=admin,
                    owns_namespace=owner,
                    is_org_owner=org_owner,
                    is_org_member=member,
                    repository_public=public,
                    team_levels=team_levels,
                )
    yield AccessFacts()
    yield AccessFacts(repository_public=True)


def _as_sql(facts: AccessFacts) -> RepositoryFactsSQL:
    # Bound values, not constants: SQLAlchemy must not fold the expression, SQLite evaluates it.
    def bound(value: bool) -> ColumnElement[bool]:
        return literal(value, Boolean)

    def team_level_in(levels: tuple[str, ...]) -> ColumnElement[bool]:
        held = [literal(level.wire).in_(levels) for level in facts.team_levels]
        return or_(false(), *held)

    return RepositoryFactsSQL(
        repository_public=bound(facts.repository_public),
        is_registry_admin=bound(facts.is_registry_admin),
        owns_namespace=bound(facts.owns_namespace),
        is_org_owner=bound(facts.is_org_owner),
        is_org_member=bound(facts.is_org_member),
        team_level_in=team_level_in,
    )


def test_the_predicate_and_the_sql_filter_agree_on_every_combination_of_facts() -> None:
    engine = create_engine("sqlite://")
    checked = 0
    with engine.connect() as conn:
        for facts in _fact_combinations():
            granted = resolve_repository_access(facts)
            for need in NEEDS:
                expr = repository_access_filter(_as_sql(facts), need)
                in_sql = bool(conn.execute(select(expr)).scalar_one())
                assert in_sql == (granted >= need), (facts, need)
                checked += 1
    engine.dispose()
    assert checked == (2**5 * 2**3 + 2) * len(NEEDS)


# --- the same on data: the listing's own columns against the access check ---------------------


async def _build(
    session_maker: async_sessionmaker[AsyncSession],
) -> tuple[list[Principal | None], dict[str, str]]:
    async with session_maker() as db:
        me, other, admin = Account(name="me"), Account(name="other"), Account(name="root")
        admin.is_admin = True
        db.add_all([me, other, admin])
        await db.flush()
        labels: dict[str, str] = {}
        n = 0

        def add_repo(namespace: Account, public: bool, label: str) -> Repository:
            nonlocal n
            n += 1
            repo = Repository(
                namespace_id=namespace.id,
                namespace=namespace.name,
                name=f"r{n}",
                visibility="public" if public else "private",
            )
            db.add(repo)
            labels[f"{namespace.name}/r{n}"] = label
            return repo

        grants: list[tuple[str, AccessLevel | None]] = [("none", None)] + [
            (where, level) for where in ("repo", "namespace") for level in LEVELS
        ]
        for public in (False, True):
            add_repo(me, public, f"own public={public}")
            add_repo(other, public, f"other user public={public}")
            for membership in ("none", "member", "owner"):
                for (where, level), in_team in itertools.product(grants, (False, True)):
                    if level is None and in_team:
                        continue
                    org = Account(name=f"org{n + 1}", is_org=True)
                    db.add(org)
                    await db.flush()
                    if membership != "none":
                        db.add(
                            OrgMember(org_id=org.id, user_id=me.id, is_admin=membership == "owner")
                        )
                    repo = add_repo(
                        org,
                        public,
                        f"org public={public} me={membership} grant={where}:"
                        f"{level.wire if level else '-'} team={in_team}",
                    )
                    await db.flush()
                    if level is None:
                        continue
                    team = Team(org_id=org.id, name="t")
                    db.add(team)
                    await db.flush()
                    if in_team:
                        db.add(TeamMember(team_id=team.id, user_id=me.id))
                    if where == "repo":
                        db.add(
                            RepositoryTeamAccess(
                                repository_id=repo.id, team_id=team.id, access_level=level.wire
                            )
                        )
                    else:
                        db.add(
                            NamespaceTeamAccess(
                                namespace_id=org.id, team_id=team.id, access_level=level.wire
                            )
                        )
        await db.commit()
        principals: list[Principal | None] = [
            None,
            Principal(account_id=me.id, name="me", is_admin=False),
            Principal(account_id=other.id, name="other", is_admin=False),
            Principal(account_id=admin.id, name="root", is_admin=True),
        ]
        return principals, labels


async def _compare(url: str) -> int:
    engine = create_async_engine(url)
    maker = create_sessionmaker(engine)
    compared = 0
    try:
        principals, labels = await _build(maker)
        async with maker() as db:
            repos = list(await db.scalars(select(Repository)))
            for principal, need in itertools.product(principals, NEEDS):
                listed = {
                    repo.full_name
                    for repo, _is_org in await db.execute(
                        readable_repositories(principal, None, need)
                    )
                }
                for repo in repos:
                    allowed = await repository_access(db, principal, repo) >= need
                    who = principal.name if principal else "anonymous"
                    assert (repo.full_name in listed) == allowed, (
                        who,
                        need.name,
                        labels[repo.full_name],
                    )
                    compared += 1
    finally:
        await engine.dispose()
    return compared


def test_the_listing_holds_exactly_what_the_access_check_grants(database_url: str) -> None:
    upgrade(database_url)
    compared = asyncio.run(_compare(database_url))
    # 2 * (2 + 3 * 13) repositories, 4 callers, 4 levels.
    assert compared == 2 * (2 + 3 * 13) * 4 * 4


@pytest.mark.parametrize("need", NEEDS)
def test_anonymous_callers_get_public_repositories_to_read_only(need: AccessLevel) -> None:
    facts = RepositoryFactsSQL(repository_public=literal(True, Boolean))
    engine = create_engine("sqlite://")
    with engine.connect() as conn:
        in_sql = bool(conn.execute(select(repository_access_filter(facts, need))).scalar_one())
    engine.dispose()
    assert in_sql == (need <= AccessLevel.READ_ONLY)
