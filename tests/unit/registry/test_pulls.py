"""The pull path's writes and point read: concurrent pulls' events share one transaction, every
waiter returns only after its rows are committed, a failed batch fails every waiter; pull
counts wait in memory for the next flush (or close) and survive a failed one."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dockyard.accounts.models import Account
from dockyard.clock import utcnow
from dockyard.db.engine import create_engine, create_sessionmaker, fetch_one
from dockyard.db.migrate import upgrade
from dockyard.events.models import OutboxEvent
from dockyard.events.types import EventType, ImageRef, manifest_event, tag_event
from dockyard.registry.pulls import PullRecorder, close_recorders, outbox_row, recorder_for
from dockyard.repos.models import Repository


def _rows(author: str) -> list[dict[str, object]]:
    image = ImageRef("ns", "repo", "sha256:" + "a" * 64, "linux", "amd64", "v1")
    now = utcnow()
    return [
        outbox_row(manifest_event(EventType.MANIFEST_PULL, "reg", image, author, now)),
        outbox_row(tag_event(EventType.TAG_PULL, "reg", image, author, now)),
    ]


async def _repository(sessions: async_sessionmaker[AsyncSession]) -> str:
    """The repository ns/repo (and its namespace account); its id."""
    async with sessions() as session:
        account = Account(name="ns", is_org=False)
        session.add(account)
        await session.flush()
        repo = Repository(namespace_id=account.id, namespace="ns", name="repo")
        session.add(repo)
        await session.commit()
        return repo.id


async def _scenario(url: str) -> None:
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    try:
        repo_id = await _repository(sessions)

        # A flush interval no test waits out: counts reach the table through flush_counts.
        recorder = PullRecorder(engine, flush_seconds=3600)
        await asyncio.gather(*(recorder.record(_rows(f"user{i}"), repo_id) for i in range(25)))
        # Pulls that record no event are counted too, and wait for nothing.
        await asyncio.gather(*(recorder.record([], repo_id) for _ in range(5)))

        async with sessions() as session:
            assert await session.scalar(select(func.count()).select_from(OutboxEvent)) == 50
            actors = set(await session.scalars(select(OutboxEvent.actor)))
            assert actors == {f"user{i}" for i in range(25)}
            assert await session.scalar(select(Repository.pulls)) == 0
        await recorder.flush_counts()
        async with sessions() as session:
            assert await session.scalar(select(Repository.pulls)) == 30

        # A batch that cannot be written fails every waiter and commits none of its rows.
        bad = [{**_rows("bad")[0], "type": None}]
        results = await asyncio.gather(
            recorder.record(_rows("ok-but-batched"), repo_id),
            recorder.record(bad, repo_id),
            return_exceptions=True,
        )
        assert all(isinstance(r, Exception) for r in results)
        async with sessions() as session:
            assert await session.scalar(select(func.count()).select_from(OutboxEvent)) == 50
        await recorder.close()  # the two pulls above are counted: their counts are not events
        async with sessions() as session:
            assert await session.scalar(select(Repository.pulls)) == 32

        # The point read sees the latest commit.
        row = await fetch_one(
            engine,
            "SELECT r.pulls, a.name FROM repositories r JOIN accounts a "
            "ON a.id = r.namespace_id WHERE r.namespace = :ns AND r.name = :name",
            {"ns": "ns", "name": "repo"},
        )
        assert row == (32, "ns")
        missing = "SELECT id FROM repositories WHERE name = :n"
        assert await fetch_one(engine, missing, {"n": "x"}) is None
    finally:
        await engine.dispose()


def test_group_commit_and_point_read(database_url: str) -> None:
    upgrade(database_url)
    asyncio.run(_scenario(database_url))


async def _failed_flush(url: str) -> None:
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    try:
        repo_id = await _repository(sessions)
        recorder = recorder_for(engine)
        await recorder.record([], repo_id)
        await recorder.record([], repo_id)
        # The table is gone for a moment: the flush fails and keeps its counts.
        async with engine.begin() as conn:
            await conn.execute(text("ALTER TABLE repositories RENAME TO repositories_away"))
        await recorder.flush_counts()
        async with engine.begin() as conn:
            await conn.execute(text("ALTER TABLE repositories_away RENAME TO repositories"))
        # Shutdown: the counts still held are written (not a second later).
        await close_recorders()
        async with sessions() as session:
            assert await session.scalar(select(Repository.pulls)) == 2
    finally:
        await engine.dispose()


def test_a_failed_count_flush_keeps_its_counts(database_url: str) -> None:
    upgrade(database_url)
    asyncio.run(_failed_flush(database_url))


@pytest.mark.parametrize("count", [1])
def test_outbox_row_matches_the_event(count: int) -> None:
    rows = _rows("alice")
    assert len(rows) == 2 * count
    assert rows[0]["type"] == "MANIFEST_PULL" and rows[1]["type"] == "TAG_PULL"
    assert rows[0]["repository_key"] == "ns/repo" and rows[0]["namespace_key"] == "ns"
    assert rows[0]["actor"] == "alice" and rows[0]["id"] != rows[1]["id"]
