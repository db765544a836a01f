"""A replica that dies holding leases (webhook deliveries, jobs) loses them to the others when
the lease ends: `jobs.lease` needs no one to clean up after it. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, insert, true

from dockyard.clock import utcnow
from dockyard.db.engine import create_engine, create_sessionmaker
from dockyard.jobs import lease
from tests.fakes.cluster import create_pg_database, drop_pg_database

meta = MetaData()
WORK = Table(
    "lease_work",
    meta,
    Column("id", Integer, primary_key=True),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("token", String(64), nullable=True),
)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/lease.db"
        return
    pg = create_pg_database()
    yield pg
    drop_pg_database(pg)


@pytest.fixture
async def sessions(url: str) -> AsyncIterator[object]:
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(meta.create_all)
        await conn.execute(insert(WORK), [{"id": i, "due_at": utcnow()} for i in (1, 2)])
    yield create_sessionmaker(engine)
    await engine.dispose()


async def _claim(sessions: object, at: object) -> tuple[str, set[int]]:
    async with sessions() as session:  # type: ignore[operator]
        token, rows = await lease.claim(
            session,
            WORK,
            where=true(),
            due_column="due_at",
            token_column="token",
            now=at,
            lease_seconds=60,
            limit=10,
            returning=["id"],
        )
        await session.commit()
    return token, {row.id for row in rows}


async def test_a_dead_replicas_leases_go_to_another_when_they_end(sessions: object) -> None:
    start = utcnow()
    dead_token, held = await _claim(sessions, start)
    assert held == {1, 2}
    # Replica A is killed here: it never renews or finishes. Within the lease, B gets nothing.
    assert (await _claim(sessions, start + timedelta(seconds=30)))[1] == set()
    # Once the lease has ended, B claims the rows under a token of its own.
    token_b, taken = await _claim(sessions, start + timedelta(seconds=61))
    assert taken == {1, 2} and token_b != dead_token
    # A replica that was only stalled, not dead, finds its rows gone when it renews.
    async with sessions() as session:  # type: ignore[operator]
        still = await lease.renew(
            session,
            WORK,
            due_column="due_at",
            token_column="token",
            token=dead_token,
            now=start + timedelta(seconds=62),
            lease_seconds=60,
        )
    assert still == set()
