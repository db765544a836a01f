"""Repository search and the namespace webhook list are served by migration 0015's indexes, and
the indexed search answers exactly what the plain substring match answers.

Plans: SQLite's `EXPLAIN QUERY PLAN` must look the term up in the FTS5 trigram table and reach
`repositories` by key (no walk of the table or of an index over it); PostgreSQL's `EXPLAIN`
(sequential and plain index scans off, so that tiny tables do not make a walk the cheapest) must
use the trigram GIN index with the term as its condition. The namespace webhook list must be an
index range in list order (no scan, no sort).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import Select, select, text, update

from dockyard.accounts.principal import Principal
from dockyard.accounts.service import accounts
from dockyard.db.engine import create_engine, create_sessionmaker
from dockyard.db.migrate import upgrade
from dockyard.repos import search
from dockyard.repos import service as repos
from dockyard.repos.models import Repository
from dockyard.repos.search import repository_search, substring_match, trigram_match
from dockyard.repos.service import readable_repositories
from dockyard.webhooks import service as webhooks
from dockyard.webhooks.models import Subscription
from tests.unit.db.test_query_plans import _plan, _problems

ADMIN = Principal("admin-id", "admin", True)
USER = Principal("user-id", "user", False)

TERMS = ["", "a", "R0", "ns1/", "/r00", "r001", "R0012", "desc", "DESCRIPTION 7", "%", "_x", "a_b"]
TERMS += ['q"uote', "ns2/a_b", "nothing-like-this", "1/", "é"]


def _search_page(principal: Principal, term: str, dialect: str) -> Select[Any]:
    """The UI's page of a rare term's search (`repository_search` picks the trigram lookup on
    SQLite for it; PostgreSQL's planner picks the GIN index from the same LIKE)."""
    match = trigram_match(term) if dialect == "sqlite" else substring_match(term)
    stmt = readable_repositories(principal).where(match)
    return stmt.order_by(Repository.namespace, Repository.name).limit(11)


def _namespace_page() -> Select[Any]:
    stmt = select(Subscription).where(webhooks._in_namespace("ns"))
    return stmt.order_by(*webhooks.PAGE_ORDER).limit(51)


async def _plans(url: str) -> dict[str, list[str]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            out = {
                "admin": await _plan(conn, _search_page(ADMIN, "r0012", conn.dialect.name)),
                "user": await _plan(conn, _search_page(USER, "r0012", conn.dialect.name)),
                "namespace webhooks": await _plan(conn, _namespace_page()),
            }
            if conn.dialect.name != "sqlite":
                # _plan turned sorts off: a search sorts its matches. Walks off, bitmaps on.
                for setting in ("enable_sort = on", "enable_indexscan = off"):
                    await conn.execute(text(f"SET {setting}"))
                await conn.execute(text("SET enable_bitmapscan = on"))
                for who, principal in (("admin", ADMIN), ("user", USER)):
                    stmt = _search_page(principal, "r0012", conn.dialect.name)
                    sql = stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
                    rows = (await conn.execute(text(f"EXPLAIN {sql}"))).all()
                    out[who] = [str(row[0]).strip() for row in rows]
            return out
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    from tests.fakes.databases import create_database, drop_database

    url = create_database(tmp_path_factory.mktemp("search-plans"))
    try:
        upgrade(url)
        found = asyncio.run(_plans(url))
        found["dialect"] = [url.split(":", 1)[0]]
        return found
    finally:
        drop_database(url)


@pytest.mark.parametrize("who", ["admin", "user"])
def test_a_search_looks_the_term_up_in_the_trigram_index(
    plans: dict[str, list[str]], who: str
) -> None:
    plan = plans[who]
    shown = "\n".join(["plan:", *plan])
    if plans["dialect"][0].startswith("sqlite"):
        assert any(line.startswith("SCAN repository_search_fts VIRTUAL TABLE") for line in plan), (
            shown
        )
        assert not any(line.startswith("SCAN repositories") for line in plan), shown
    else:
        assert any("Bitmap Index Scan on ix_repositories_search_name" in line for line in plan), (
            shown
        )
        assert not any("Seq Scan on repositories" in line for line in plan), shown


def test_the_namespace_webhook_list_is_an_index_range_in_list_order(
    plans: dict[str, list[str]],
) -> None:
    plan = plans["namespace webhooks"]
    dialect = "sqlite" if plans["dialect"][0].startswith("sqlite") else "postgresql"
    assert not _problems(dialect, plan, True), "\n".join(["plan:", *plan])
    assert any("ix_webhook_subscriptions_namespace_created" in line for line in plan), plan


async def _populate(url: str) -> None:
    sessions = create_sessionmaker(engine := create_engine(url))
    try:
        async with sessions() as session:
            for ns in ("ns1", "ns2"):
                org = await accounts.create_org(session, ns)
                for i in range(12):
                    await repos.create_repository(
                        session,
                        org,
                        f"r{i:04d}" if i % 3 else f"a_b{i}",
                        "admin",
                        short_description=f"Description {i}" if i % 2 else "",
                    )
            await session.commit()
    finally:
        await engine.dispose()


async def _matches(url: str, term: str) -> tuple[list[str], list[str]]:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            base = select(Repository.id).order_by(Repository.id)
            match = await repository_search(session, term)
            indexed = base if match is None else base.where(match)
            plain = base.where(substring_match(term.lower())) if term else base
            return list(await session.scalars(indexed)), list(await session.scalars(plain))
    finally:
        await engine.dispose()


@pytest.mark.parametrize("common", [search.COMMON, 3], ids=["rare terms", "common terms"])
def test_indexed_search_answers_what_the_substring_match_answers(
    database_url: str, monkeypatch: pytest.MonkeyPatch, common: int
) -> None:
    """Every term, whether the index or the ordered LIKE answers it (a term matching `common`
    repositories or more is common)."""
    monkeypatch.setattr(search, "COMMON", common)
    upgrade(database_url)
    asyncio.run(_populate(database_url))

    async def change() -> None:
        engine = create_engine(database_url)
        try:
            async with engine.begin() as conn:
                # The index follows updates and deletes (triggers on SQLite).
                await conn.execute(
                    update(Repository)
                    .where(Repository.name == "r0001")
                    .values(short_description='Now a Q"uote, ns2/a_b and é')
                )
                await conn.execute(
                    Repository.__table__.delete().where(
                        Repository.namespace == "ns1", Repository.name == "r0002"
                    )
                )
        finally:
            await engine.dispose()

    for stage in ("created", "changed"):
        for term in TERMS:
            indexed, plain = asyncio.run(_matches(database_url, term))
            assert indexed == plain, (stage, term)
        if stage == "created":
            assert asyncio.run(_matches(database_url, "r0001"))[0], "the test data is there"
            asyncio.run(change())
    assert len(asyncio.run(_matches(database_url, 'q"uote'))[0]) == 2  # r0001 in each
    assert len(asyncio.run(_matches(database_url, "r0002"))[0]) == 1  # ns1's is gone


def test_sqlite_looks_up_a_rare_term_and_reads_rows_in_order_for_a_common_one(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "COMMON", 3)
    upgrade(database_url)
    asyncio.run(_populate(database_url))

    async def uses_the_index(term: str) -> bool:
        engine = create_engine(database_url)
        try:
            async with create_sessionmaker(engine)() as session:
                match = await repository_search(session, term)
                assert match is not None
                return "repository_search_fts" in str(match.compile(dialect=engine.dialect))
        finally:
            await engine.dispose()

    sqlite = database_url.startswith("sqlite")
    assert asyncio.run(uses_the_index("ns1/r0001")) is sqlite  # 1 match: rare
    assert asyncio.run(uses_the_index("r00")) is False  # 16 matches: common
    assert asyncio.run(uses_the_index("r0")) is False  # shorter than a trigram


def test_without_the_trigram_index_a_search_reads_rows(database_url: str) -> None:
    """A database that ran revision 0015 while it was an empty step has no FTS table: the search
    answers by reading rows instead of failing."""
    if not database_url.startswith("sqlite"):
        return  # PostgreSQL's search is the LIKE whatever the indexes
    upgrade(database_url)
    asyncio.run(_populate(database_url))

    async def drop() -> None:
        engine = create_engine(database_url)
        try:
            async with engine.begin() as conn:
                await conn.execute(text("DROP TABLE repository_search_fts"))
        finally:
            await engine.dispose()

    asyncio.run(drop())
    indexed, plain = asyncio.run(_matches(database_url, "ns1/r0001"))
    assert indexed == plain and len(indexed) == 1
