"""The list and match queries are served by indexes: the database's own query plan says so.

SQLite (`EXPLAIN QUERY PLAN`): no table read by a bare `SCAN <table>` (a scan in an index's
order, which a LIMIT stops, is fine), and no `USE TEMP B-TREE FOR ORDER BY` for a list whose
order an index gives. The user catalog reads its candidates from index ranges and sorts only
those (at most a few pages' worth), so for it only the scans are checked.

PostgreSQL (`EXPLAIN` with `enable_seqscan`, `enable_bitmapscan` and `enable_sort` off, so that
tiny tables do not make a sequential scan and a sort the cheapest): no `Seq Scan` (there is an
index the query can use) and, for an ordered list, no `Sort` node (the index gives the order).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from sqlalchemy import Select, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard.accounts.principal import Principal
from dockyard.db.engine import create_engine
from dockyard.db.migrate import upgrade
from dockyard.repos.models import Repository, Tag
from dockyard.repos.service import readable_repositories
from dockyard.repos.visible import candidates_filter, readable_page
from dockyard.ui.queries import TAG_ORDER, _tags_with_manifests
from dockyard.webhooks import service as webhooks
from dockyard.webhooks.models import Subscription
from tests.fakes.databases import create_database, drop_database

ADMIN = Principal("admin-id", "admin", True)
USER = Principal("user-id", "user", False)
SCOPED = Principal("user-id", "user", False, scopes=(("ns/app", frozenset({"pull"})),))


class _Repo:
    id = "repo-id"


def _api_repositories(principal: Principal) -> Select[Any]:
    """GET /api/v0/repositories's page from "ns/b" (repos/routes.py builds the same)."""
    stmt = readable_repositories(principal)
    narrow = candidates_filter(principal, ("ns", "b"), 11, inclusive=True)
    if narrow is not None:
        stmt = stmt.where(narrow)
    key = (Repository.namespace, Repository.name)
    return stmt.where(tuple_(*key) >= tuple_("ns", "b")).order_by(*key).limit(11)


def _match() -> Select[Any]:
    """The dispatcher's lookup of the subscriptions an event batch matches."""
    return select(Subscription.id).where(
        Subscription.event_type.in_(["TAG_PUSH"]),
        Subscription.key.in_(["", "ns", "ns/app"]),
        Subscription.inactive.is_(False),
    )


# name -> (statement, ordered by an index alone)
QUERIES: dict[str, tuple[Select[Any], bool]] = {
    "catalog, administrator": (readable_page(ADMIN, ("ns", "b"), 101), True),
    "catalog, user": (readable_page(USER, ("ns", "b"), 101), False),
    "catalog, anonymous": (readable_page(None, None, 101), False),
    "catalog, bearer token": (readable_page(SCOPED, None, 101), False),
    "repositories API, administrator": (_api_repositories(ADMIN), True),
    "repositories API, user": (_api_repositories(USER), False),
    "repositories API, namespace": (
        select(Repository)
        .where(Repository.namespace_id == "ns-id", Repository.name >= "b")
        .order_by(Repository.namespace, Repository.name)
        .limit(11),
        True,
    ),
    "tags API page": (
        select(Tag)
        .where(Tag.repository_id == "repo-id", Tag.name >= "v1")
        .order_by(Tag.name)
        .limit(11),
        True,
    ),
    "Tags tab by updated_at": (
        _tags_with_manifests(_Repo).order_by(*(c.desc() for c in TAG_ORDER)).limit(51),  # type: ignore[arg-type]
        True,
    ),
    "webhooks, administrator": (
        webhooks.visible_subscriptions(ADMIN, None).order_by(*webhooks.PAGE_ORDER).limit(101),
        True,
    ),
    "webhooks, author": (
        webhooks.visible_subscriptions(USER, None).order_by(*webhooks.PAGE_ORDER).limit(101),
        True,
    ),
    "webhooks by key": (
        webhooks.keyed_subscriptions("ns/app").order_by(*webhooks.PAGE_ORDER).limit(51),
        True,
    ),
    "subscriptions matching an event": (_match(), False),
}

_BARE_SCAN = re.compile(r"^SCAN (\w+)$")


async def _plan(conn: AsyncConnection, stmt: Select[Any]) -> list[str]:
    sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    if conn.dialect.name == "sqlite":
        rows = (await conn.execute(text("EXPLAIN QUERY PLAN " + sql))).all()
        return [str(row[-1]).strip() for row in rows]
    # Off, not forbidden: the planner still takes a sequential scan or a sort when no index
    # can serve, which is what the checks look for.
    for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
        await conn.execute(text(f"SET {setting} = off"))
    rows = (await conn.execute(text("EXPLAIN " + sql))).all()
    return [str(row[0]).strip() for row in rows]


def _problems(dialect: str, plan: list[str], ordered: bool) -> list[str]:
    found = []
    for line in plan:
        if dialect == "sqlite":
            bare = _BARE_SCAN.match(line)
            if bare and not bare.group(1).startswith("anon_"):
                found.append(line)
            if ordered and "USE TEMP B-TREE FOR ORDER BY" in line:
                found.append(line)
        else:
            if "Seq Scan" in line:
                found.append(line)
            if ordered and re.match(r"^(->\s*)?(Incremental )?Sort\b", line):
                found.append(line)
    return found


async def _plans(url: str) -> dict[str, tuple[list[str], list[str]]]:
    engine = create_engine(url)
    out = {}
    try:
        async with engine.connect() as conn:
            for name, (stmt, ordered) in QUERIES.items():
                plan = await _plan(conn, stmt)
                out[name] = (plan, _problems(conn.dialect.name, plan, ordered))
    finally:
        await engine.dispose()
    return out


@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[list[str], list[str]]]:
    url = create_database(tmp_path_factory.mktemp("plans"))
    try:
        upgrade(url)
        return asyncio.run(_plans(url))
    finally:
        drop_database(url)


@pytest.mark.parametrize("name", list(QUERIES))
def test_the_query_is_served_by_an_index(
    plans: dict[str, tuple[list[str], list[str]]], name: str
) -> None:
    plan, problems = plans[name]
    assert plan, "the database gave no plan"
    assert not problems, "\n".join(["plan:", *plan])


def test_the_check_would_see_a_full_scan_and_a_sort() -> None:
    """The checks can fail: a scan of a table and a sort for ORDER BY are reported."""
    assert _problems("sqlite", ["SCAN repositories", "USE TEMP B-TREE FOR ORDER BY"], True)
    assert not _problems("sqlite", ["SCAN webhook_subscriptions USING INDEX ix"], True)
    assert _problems("postgresql", ["Seq Scan on tags", "->  Sort  (cost=1)"], True)
