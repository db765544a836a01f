"""Login rate limiting per (user, address), counted in the database (SQLite, or PostgreSQL when
DOCKYARD_TEST_DATABASE_URL names it) so that every HTTP worker shares one count.

The limiter reads `time.time()`, so the clock is moved by patching it (no sleeping). Each step
runs in its own committed session, as separate requests (on any worker) would."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker

from dockyard.auth.ratelimit import SCOPE, LoginRateLimiter
from dockyard.db import shared_limits
from dockyard.db.base import Base
from dockyard.db.engine import create_engine
from dockyard.db.shared_limits import SharedLimit


class FakeClock:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = 1_000_000.0
        monkeypatch.setattr(time, "time", lambda: self.now)


class Pair:
    """One (name, address) pair's view of a limiter, each call its own committed session."""

    def __init__(self, sessions: async_sessionmaker, limiter: LoginRateLimiter) -> None:  # type: ignore[type-arg]
        self.sessions = sessions
        self.limiter = limiter

    async def fail(self, name: str, address: str) -> None:
        async with self.sessions() as session:
            await self.limiter.failed(session, name, address)
            await session.commit()

    async def succeed(self, name: str, address: str) -> None:
        async with self.sessions() as session:
            if (await self.limiter.standing(session, name, address)).remembered:
                await self.limiter.succeeded(session, name, address)
                await session.commit()

    async def wait(self, name: str, address: str) -> float | None:
        async with self.sessions() as session:
            return (await self.limiter.standing(session, name, address)).retry_after

    async def remembered(self) -> int:
        async with self.sessions() as session:
            return await shared_limits.count(session, SCOPE)


def run(
    database_url: str, limiter: LoginRateLimiter, scenario: Callable[[Pair], Awaitable[None]]
) -> None:
    async def main() -> None:
        engine = create_engine(database_url)
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all, tables=[SharedLimit.__table__])
        try:
            await scenario(Pair(async_sessionmaker(engine), limiter))
        finally:
            await engine.dispose()

    asyncio.run(main())


def test_blocks_after_max_failures_and_unblocks_later(
    monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    clock = FakeClock(monkeypatch)

    async def scenario(db: Pair) -> None:
        for _ in range(2):
            await db.fail("alice", "10.0.0.1")
            assert await db.wait("alice", "10.0.0.1") is None
        await db.fail("alice", "10.0.0.1")
        wait = await db.wait("alice", "10.0.0.1")
        assert wait is not None and 119 < wait <= 120
        # Other users and other addresses are not affected.
        assert await db.wait("bob", "10.0.0.1") is None
        assert await db.wait("alice", "10.0.0.2") is None
        clock.now += 100
        wait = await db.wait("alice", "10.0.0.1")
        assert wait is not None and 19 < wait <= 20
        clock.now += 21
        assert await db.wait("alice", "10.0.0.1") is None

    run(database_url, LoginRateLimiter(3, 60, 120), scenario)


def test_failures_outside_the_window_do_not_count(
    monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    clock = FakeClock(monkeypatch)

    async def scenario(db: Pair) -> None:
        await db.fail("alice", "a")
        await db.fail("alice", "a")
        clock.now += 61
        await db.fail("alice", "a")
        assert await db.wait("alice", "a") is None
        await db.fail("alice", "a")  # three in the window that opened with the last minute
        await db.fail("alice", "a")
        assert await db.wait("alice", "a") is not None

    run(database_url, LoginRateLimiter(3, 60, 120), scenario)


def test_success_resets_the_count(database_url: str) -> None:
    async def scenario(db: Pair) -> None:
        await db.fail("alice", "a")
        await db.succeed("alice", "a")
        assert await db.remembered() == 0
        await db.fail("alice", "a")
        assert await db.wait("alice", "a") is None

    run(database_url, LoginRateLimiter(2, 60, 60), scenario)


def test_concurrent_failures_all_count(database_url: str) -> None:
    """Failures arriving at once (as on several workers) are each counted: a block follows."""

    async def scenario(db: Pair) -> None:
        await asyncio.gather(*(db.fail("alice", "a") for _ in range(5)))
        assert await db.wait("alice", "a") is not None

    run(database_url, LoginRateLimiter(5, 300, 300), scenario)


def test_only_live_pairs_are_remembered(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    """The table is bounded by the pairs active in the last window or block: a failure deletes
    the rows whose window and block are over."""
    clock = FakeClock(monkeypatch)

    async def scenario(db: Pair) -> None:
        for i in range(50):
            await db.fail(f"user{i}", "a")
        assert await db.remembered() == 50
        clock.now += 61
        await db.fail("late", "a")
        assert await db.remembered() == 1

    run(database_url, LoginRateLimiter(5, 60, 60), scenario)


def test_concurrent_failures_clean_up_without_conflict(
    monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    """Failures of many pairs at once, each refreshing an expired row another's clean-up would
    delete, all succeed (on PostgreSQL the clean-up skips rows other transactions hold)."""
    clock = FakeClock(monkeypatch)

    async def scenario(db: Pair) -> None:
        for i in range(20):
            await db.fail(f"user{i}", "a")
        clock.now += 61
        await asyncio.gather(*(db.fail(f"user{i}", "a") for i in range(20)))
        assert await db.remembered() == 20

    run(database_url, LoginRateLimiter(5, 60, 60), scenario)
