"""Claimed work never outlives its lease unsent, and an idle engine sleeps.

- A delivery waiting behind its endpoint's connection cap whose lease was taken by another
  worker (a renewal found it gone) is dropped, not sent; one whose lease is about to end (its
  renewals failing) is handed back instead of started.
- The claim stage sleeps until the next pending delivery falls due (not a fixed poll), the
  record stage sleeps while nothing was sent.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from dockyard.clock import utcnow
from dockyard.config import Settings
from dockyard.db.engine import create_engine, create_sessionmaker
from dockyard.db.migrate import upgrade
from dockyard.webhooks import send
from dockyard.webhooks.delivery import AttemptResult
from dockyard.webhooks.job import Job
from dockyard.webhooks.models import Delivery
from dockyard.webhooks.record import FLUSH_INTERVAL, Recorder
from dockyard.webhooks.worker import DeliveryEngine
from tests.unit.webhooks.seeding import delivery, job, seed

SLOW = "http://slow.test/hook"


def _job(n: int, token: str = "tok") -> Job:
    return job(f"d{n}", SLOW, token=token)


async def _seed(sessions: Any, count: int) -> None:
    now = utcnow()
    later = now + timedelta(seconds=60)
    leased = (
        delivery(f"d{n}", next_attempt_at=later, event_created_at=now, lease_token="tok")
        for n in range(count)
    )
    await seed(sessions, SLOW, leased)


async def _lost_lease(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[str] = []
    release = asyncio.Event()

    async def slow(_t: Any, _endpoint: str, body: bytes, headers: Any, **_k: Any) -> AttemptResult:
        sent.append("x")
        await release.wait()
        return AttemptResult(200, None, "", 1.0, "ok")

    monkeypatch.setattr(send, "attempt", slow)
    db = create_engine(url)
    sessions = create_sessionmaker(db)
    try:
        await _seed(sessions, 4)
        settings = Settings(data_dir=tmp_path, webhook_max_per_endpoint=1)
        engine = DeliveryEngine(settings, sessions, None)  # type: ignore[arg-type]
        engine.sender.start([_job(n) for n in range(4)], utcnow())
        await asyncio.sleep(0)
        assert len(sent) == 1 and len(engine.sender.held) == 4  # one sending, three waiting
        # Another worker claimed d2 and d3 (their lease ended while this one could not renew).
        async with sessions() as session:
            await session.execute(
                update(Delivery)
                .where(Delivery.id.in_(["d2", "d3"]))
                .values(lease_token="someone-else")
            )
            await session.commit()
        lost = await engine.claimer.renew_leases()
        assert lost == {"d2", "d3"}
        engine.sender.drop(lost)
        assert set(engine.sender.held) == {"d0", "d1"}
        # The slot frees: d1 is sent; d2 and d3 never are (the other worker sends them).
        release.set()
        for _ in range(20):
            await asyncio.sleep(0)
        assert len(sent) == 2 and not engine.sender.held
    finally:
        await db.dispose()


def test_a_waiting_delivery_whose_lease_was_taken_is_not_sent(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    upgrade(database_url)
    asyncio.run(_lost_lease(database_url, tmp_path, monkeypatch))


async def _ending_lease(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[str] = []
    release = asyncio.Event()

    async def slow(*_a: Any, **_k: Any) -> AttemptResult:
        sent.append("x")
        await release.wait()
        return AttemptResult(200, None, "", 1.0, "ok")

    monkeypatch.setattr(send, "attempt", slow)
    settings = Settings(data_dir=tmp_path, webhook_max_per_endpoint=1, webhook_lease_seconds=30)
    engine = DeliveryEngine(settings, None, None)  # type: ignore[arg-type]
    first, second = _job(0), _job(1)
    engine.sender.start([first, second], utcnow())
    await asyncio.sleep(0)
    # No renewal came: the waiting one's lease has less than a third left when the slot frees.
    second.lease_ends = time.monotonic() + 5
    release.set()
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(sent) == 1
    assert engine.recorder.handed_back == [second] and not engine.sender.held


def test_a_delivery_whose_lease_is_ending_is_handed_back_unsent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(_ending_lease(tmp_path, monkeypatch))


async def _next_due(url: str, tmp_path: Path) -> None:
    db = create_engine(url)
    sessions = create_sessionmaker(db)
    try:
        settings = Settings(data_dir=tmp_path)
        engine = DeliveryEngine(settings, sessions, None)  # type: ignore[arg-type]
        # Nothing pending: the whole fallback.
        assert await engine.claimer.next_due_in(10.0) == 10.0
        await _seed(sessions, 1)  # leased for 60 s from now
        async with sessions() as session:
            await session.execute(
                update(Delivery).values(next_attempt_at=utcnow() + timedelta(seconds=3))
            )
            await session.commit()
        assert 2.0 < await engine.claimer.next_due_in(10.0) <= 3.0
        assert await engine.claimer.next_due_in(1.5) == 1.5
    finally:
        await db.dispose()


def test_the_claim_sleeps_until_the_next_delivery_is_due(database_url: str, tmp_path: Path) -> None:
    upgrade(database_url)
    asyncio.run(_next_due(database_url, tmp_path))


async def _recorder_sleeps() -> None:
    recorder = Recorder(None, [1.0])  # type: ignore[arg-type]
    waiter = asyncio.create_task(recorder.wait(None))
    await asyncio.sleep(5 * FLUSH_INTERVAL)
    assert not waiter.done()  # empty: asleep, no timer (it used to return every interval)
    recorder.add(_job(0), AttemptResult(200, None, "", 1.0, "ok"), utcnow())
    await asyncio.wait_for(waiter, 10)  # something to record: it wakes


def test_the_recorder_sleeps_while_nothing_was_sent() -> None:
    asyncio.run(_recorder_sleeps())


def test_a_large_batch_is_written_in_short_parts() -> None:
    """The writer's parts: at most WRITE_CHUNK deliveries each, every attempt with its
    delivery, the subscriptions' health once, with the last part."""
    from dockyard.webhooks.record import WRITE_CHUNK, Summary, split

    n = 2 * WRITE_CHUNK + 7
    summary = Summary(
        attempts=[{"delivery_id": f"d{i}"} for i in range(n)],
        deliveries=[{"b_id": f"d{i}"} for i in range(n)],
        reset=[{"b_id": "s"}],
    )
    parts = split(summary)
    assert [len(p.deliveries) for p in parts] == [WRITE_CHUNK, WRITE_CHUNK, 7]
    for part in parts:
        assert {a["delivery_id"] for a in part.attempts} == {d["b_id"] for d in part.deliveries}
    assert [p.reset for p in parts] == [[], [], [{"b_id": "s"}]]
    assert split(Summary(deliveries=[{"b_id": "x"}])) == [Summary(deliveries=[{"b_id": "x"}])]
