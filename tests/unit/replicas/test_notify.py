"""Cross-node wake-ups on PostgreSQL: a commit that recorded events is announced with NOTIFY,
and a listener wakes its consumers for another process's announcement (never its own)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import asyncpg
import pytest

from dockyard.clock import utcnow
from dockyard.db.engine import create_engine, create_sessionmaker
from dockyard.db.migrate import upgrade
from dockyard.events import bus, notify
from dockyard.events.types import RepoEventKind, repo_event
from tests.fakes.cluster import create_pg_database, drop_pg_database

WAIT = 10.0  # a bound for a hung test, not a measured latency


@pytest.fixture
def pg_url() -> Iterator[str]:
    url = create_pg_database()
    upgrade(url)
    yield url
    drop_pg_database(url)


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def test_a_commit_that_recorded_events_is_announced(pg_url: str) -> None:
    heard: asyncio.Queue[str] = asyncio.Queue()
    other = await asyncpg.connect(_dsn(pg_url))
    await other.add_listener(notify.CHANNEL, lambda *args: heard.put_nowait(args[3]))
    engine = create_engine(pg_url)
    forwarder = asyncio.create_task(notify.forward_commits(engine))
    try:
        await asyncio.sleep(0)  # the forwarder subscribes before the commit
        async with create_sessionmaker(engine)() as session:
            await session.rollback()
            bus.record(session, repo_event(RepoEventKind.REPO_CREATED, "a", "b", "x", {}, utcnow()))
            await session.rollback()  # a rolled-back change announces nothing
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(heard.get(), 0.5)
        async with create_sessionmaker(engine)() as session:
            bus.record(session, repo_event(RepoEventKind.REPO_CREATED, "a", "b", "x", {}, utcnow()))
            await session.commit()
        assert await asyncio.wait_for(heard.get(), WAIT) == notify.PROCESS_TOKEN
    finally:
        forwarder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await forwarder
        await other.close()
        await engine.dispose()


async def test_a_listener_wakes_for_other_processes_only(pg_url: str) -> None:
    woken = asyncio.Event()
    listener = asyncio.create_task(notify.listen(pg_url, woken.set))
    sender = await asyncpg.connect(_dsn(pg_url))
    try:
        # Listening starts with one wake-up, for what was committed before it listened.
        await asyncio.wait_for(woken.wait(), WAIT)
        woken.clear()
        await sender.execute("SELECT pg_notify($1, $2)", notify.CHANNEL, notify.PROCESS_TOKEN)
        await sender.execute("SELECT pg_notify('another_channel', 'x')")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(woken.wait(), 0.5)
        await sender.execute("SELECT pg_notify($1, $2)", notify.CHANNEL, "another-process")
        await asyncio.wait_for(woken.wait(), WAIT)
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
        await sender.close()


async def test_a_listener_reconnects_after_its_connection_is_killed(pg_url: str) -> None:
    woken = asyncio.Event()
    listener = asyncio.create_task(notify.listen(pg_url, woken.set))
    admin = await asyncpg.connect(_dsn(pg_url))
    try:
        await asyncio.wait_for(woken.wait(), WAIT)
        woken.clear()
        name = pg_url.rsplit("/", 1)[1]
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()",
            name,
        )
        # The new connection's first wake-up, then a notification it hears.
        await asyncio.wait_for(woken.wait(), WAIT)
        woken.clear()
        for _ in range(50):
            await admin.execute("SELECT pg_notify($1, 'elsewhere')", notify.CHANNEL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), 0.2)
                break
        assert woken.is_set()
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
        await admin.close()


def test_only_postgresql_gets_the_tasks() -> None:
    assert notify.background_tasks("sqlite+aiosqlite:///x.db", consumes=True) == []
    pg = "postgresql+asyncpg://u@h/db"
    assert len(notify.background_tasks(pg, consumes=False)) == 1
    assert len(notify.background_tasks(pg, consumes=True)) == 2
