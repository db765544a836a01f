"""One rule, two renderings, for namespaces: `resolve_namespace_access` (the check
`auth.access.namespace_access` makes on one namespace) and `namespace_access_filter` (the SQL
the pages' "where may I create a repository" list filters with) must agree.

The pure check enumerates every combination of facts and evaluates the SQL rendering with them
as bound values on SQLite. The data check builds a database with one namespace per situation
(own and another user's namespace; organizations where the caller is no member, a member or an
owner, with a namespace team grant at each level, the caller in the team or not) and checks, for
each caller and each level, that `repos.namespaces` lists exactly the namespaces the access
check grants that level on.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

from sqlalchemy import Boolean, ColumnElement, create_engine, false, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dockyard.accounts.models import Account, OrgMember, Team, TeamMember
from dockyard.accounts.principal import Principal
from dockyard.auth.access import namespace_access
from dockyard.db.engine import create_engine as create_async_engine
from dockyard.db.engine import create_sessionmaker
from dockyard.db.migrate import upgrade
from dockyard.repos.models import NamespaceTeamAccess
from dockyard.repos.namespaces import namespaces_with_access
from dockyard.rules.permissions import (
    AccessFacts,
    AccessLevel,
    NamespaceFactsSQL,
    namespace_access_filter,
    resolve_namespace_access,
)

LEVELS = (AccessLevel.READ_ONLY, AccessLevel.READ_WRITE, AccessLevel.ADMIN)
NEEDS = tuple(AccessLevel)


def _fact_combinations() -> Iterator[AccessFacts]:
    for admin, owner, org_owner in itertools.product((False, True), repeat=3):
        for count in range(len(LEVELS) + 1):
            for team_levels in itertools.combinations(LEVELS, count):
                yield AccessFacts(
                    authenticated=True,
                    is_registry_admin=admin,
                    owns_namespace=owner,
                    is_org_owner=org_owner,
                    is_org_member=org_owner or bool(team_levels),
                    team_levels=team_levels,
                )
    yield AccessFacts()


def _as_sql(facts: AccessFacts) -> NamespaceFactsSQL:
    # Bound values, not constants: SQLAlchemy must not fold the expression, SQLite evaluates it.
    def bound(value: bool) -> ColumnElement[bool]:
        return literal(value, Boolean)

    def team_level_in(levels: tuple[str, ...]) -> ColumnElement[bool]:
        return or_(false(), *[literal(level.wire).in_(levels) for level in facts.team_levels])

    return NamespaceFactsSQL(
        is_registry_admin=bound(facts.is_registry_admin),
        owns_namespace=bound(facts.owns_namespace),
        is_org_owner=bound(facts.is_org_owner),
        team_level_in=team_level_in,
    )


def test_the_predicate_and_the_sql_filter_agree_on_every_combination_of_facts() -> None:
    engine = create_engine("sqlite://")
    checked = 0
    with engine.connect() as conn:
        for facts in _fact_combinations():
            granted = resolve_namespace_access(facts)
            for need in NEEDS:
                expr = namespace_access_filter(_as_sql(facts), need)
                in_sql = bool(conn.execute(select(expr)).scalar_one())
                assert in_sql == (granted >= need), (facts, need)
                checked += 1
    engine.dispose()
    assert checked == (2**3 * 2**3 + 1) * len(NEEDS)


async def _build(maker: async_sessionmaker[AsyncSession]) -> list[Principal]:
    async with maker() as db:
        me, other, admin = Account(name="me"), Account(name="other"), Account(name="root")
        admin.is_admin = True
        db.add_all([me, other, admin])
        await db.flush()
        grants: list[AccessLevel | None] = [None, *LEVELS]
        n = 0
        for membership in ("none", "member", "owner"):
            for level, in_team in itertools.product(grants, (False, True)):
                if level is None and in_team:
                    continue
                n += 1
                org = Account(name=f"org{n}-{membership}-{level.wire if level else 'no'}-{in_team}")
                org.is_org = True
                db.add(org)
                await db.flush()
                if membership != "none":
                    db.add(OrgMember(org_id=org.id, user_id=me.id, is_admin=membership == "owner"))
                if level is None:
                    continue
                team = Team(org_id=org.id, name="t")
                db.add(team)
                await db.flush()
                if in_team:
                    db.add(TeamMember(team_id=team.id, user_id=me.id))
                db.add(
                    NamespaceTeamAccess(
                        namespace_id=org.id, team_id=team.id, access_level=level.wire
                    )
                )
        await db.commit()
        return [
            Principal(account_id=me.id, name="me", is_admin=False),
            Principal(account_id=other.id, name="other", is_admin=False),
            Principal(account_id=admin.id, name="root", is_admin=True),
        ]


async def _compare(url: str) -> tuple[int, int]:
    engine = create_async_engine(url)
    maker = create_sessionmaker(engine)
    compared = granted_somewhere = 0
    try:
        principals = await _build(maker)
        async with maker() as db:
            namespaces = list(await db.scalars(select(Account)))
            for principal, need in itertools.product(principals, NEEDS):
                stmt = namespaces_with_access(principal, need)
                listed = {account.name for account in await db.scalars(stmt)}
                for account in namespaces:
                    allowed = await namespace_access(db, principal, account) >= need
                    assert (account.name in listed) == allowed, (principal.name, need, account.name)
                    compared += 1
                    granted_somewhere += allowed and not principal.is_admin
    finally:
        await engine.dispose()
    return compared, granted_somewhere


def test_the_listing_holds_exactly_what_the_access_check_grants(database_url: str) -> None:
    upgrade(database_url)
    compared, granted = asyncio.run(_compare(database_url))
    # 3 users + 3 * 7 organizations, 3 callers, 4 levels.
    assert compared == (3 + 3 * 7) * 3 * 4
    # Not a vacuous agreement: ordinary callers hold levels on some namespaces and not others.
    assert 0 < granted < (3 + 3 * 7) * 2 * 4
