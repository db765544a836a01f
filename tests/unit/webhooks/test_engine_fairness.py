"""The delivery engine's fairness: a hanging endpoint holds only its own slots and places, its
surplus is handed back (not attempted) and skipped by the claim, a healthy endpoint is sent at
once; the leases of held deliveries are renewed."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table, select

from dockyard.clock import utcnow
from dockyard.config import Settings
from dockyard.db.engine import create_engine, create_sessionmaker
from dockyard.db.migrate import upgrade
from dockyard.webhooks import send
from dockyard.webhooks.delivery import AttemptResult
from dockyard.webhooks.job import Job
from dockyard.webhooks.models import Delivery
from dockyard.webhooks.worker import DeliveryEngine
from tests.unit.webhooks.seeding import delivery, job, seed

_DELIVERIES: Table = Delivery.__table__  # type: ignore[assignment]

HANG = "http://hang.test:8080/hook"
CALM = "http://calm.test/hook"


def _job(n: int, endpoint: str, token: str = "tok") -> Job:
    return job(f"d-{endpoint}-{n}", endpoint, f"s-{endpoint}-{n}", token)


def _settings(tmp_path: Path, **extra: Any) -> Settings:
    return Settings(
        data_dir=tmp_path,
        webhook_concurrency=16,
        webhook_max_per_endpoint=8,
        **extra,
    )


async def _fairness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release = asyncio.Event()
    sent: list[str] = []

    async def fake_attempt(_transport: Any, endpoint: str, *_a: Any, **_k: Any) -> AttemptResult:
        sent.append(endpoint)
        if endpoint == HANG:
            await release.wait()  # accepts, never answers (until the test lets go)
        return AttemptResult(200, None, "", 1.0, "ok")

    monkeypatch.setattr(send, "attempt", fake_attempt)
    engine = DeliveryEngine(_settings(tmp_path), None, None)  # type: ignore[arg-type]
    engine.sender.start([_job(i, HANG) for i in range(300)], utcnow())
    await asyncio.sleep(0)
    # Its 8 slots sending, its backlog (16 here) waiting for one; only the sending count
    # against the 16 places. The rest is handed back, not attempted.
    assert engine.sender.backlog == 16 and engine.sender.endpoint_capacity == 24
    assert sent.count(HANG) == 8 and engine.sender.inflight == 8
    assert len(engine.sender.held) == 24 and len(engine.recorder.handed_back) == 276
    # The general claim leaves this endpoint's subscriptions alone; it is full, so it gets no
    # refill either.
    skipped, refills = engine.sender.plan_claim()
    assert len(skipped) == 300 and refills == []

    # A healthy endpoint is sent at once, not behind the hanging one.
    assert engine.sender.start([_job(0, CALM)], utcnow()) == 1
    await asyncio.sleep(0.01)
    assert CALM in sent and engine.sender.inflight == 8
    assert {job.endpoint for job, _r, _at in engine.recorder.results} == {CALM}

    # When the hanging endpoint answers, its waiting deliveries take the freed slots, and
    # once half its backlog is free, the claim refills it (it has more due).
    release.set()
    for _ in range(50):
        await asyncio.sleep(0)
    assert sent.count(HANG) == 24 and engine.sender.inflight == 0 and not engine.sender.held
    assert engine.sender.claim_wake.is_set()
    assert engine.sender.plan_claim() == ([], [])


def test_a_hanging_endpoint_holds_only_its_share(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(_fairness(tmp_path, monkeypatch))


async def _global_places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many endpoints: at most webhook_concurrency send; the rest wait for a place, and get
    one as places free."""
    release = asyncio.Event()
    sent: list[str] = []

    async def fake_attempt(_transport: Any, endpoint: str, *_a: Any, **_k: Any) -> AttemptResult:
        sent.append(endpoint)
        await release.wait()
        return AttemptResult(200, None, "", 1.0, "ok")

    monkeypatch.setattr(send, "attempt", fake_attempt)
    engine = DeliveryEngine(_settings(tmp_path), None, None)  # type: ignore[arg-type]
    jobs = [_job(0, f"http://e{i}.test/") for i in range(20)]
    assert engine.sender.start(jobs, utcnow()) == 20
    await asyncio.sleep(0)
    assert len(sent) == 16 and engine.sender.inflight == 16 and len(engine.sender.held) == 20
    release.set()
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(sent) == 20 and engine.sender.inflight == 0


def test_endpoints_waiting_for_a_global_place_get_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(_global_places(tmp_path, monkeypatch))


async def _leases(url: str, tmp_path: Path) -> None:
    db = create_engine(url)
    sessions = create_sessionmaker(db)
    now = utcnow()
    soon = now + timedelta(seconds=5)
    try:
        await seed(
            sessions,
            HANG,
            (
                delivery(
                    delivery_id,
                    next_attempt_at=soon,
                    event_created_at=now,
                    lease_token="tok" if delivery_id != "other" else "someone-else",
                )
                for delivery_id in ("held", "back", "other")
            ),
        )
        engine = DeliveryEngine(_settings(tmp_path, webhook_lease_seconds=600), sessions, None)  # type: ignore[arg-type]
        held, back = _job(0, HANG), _job(1, HANG)
        held.delivery_id, back.delivery_id = "held", "back"
        engine.sender.held[held.delivery_id] = held
        engine.recorder.hand_back([back])
        await engine.claimer.renew_leases()
        await engine.recorder.flush()
        async with sessions() as session:
            rows = {r.id: r for r in (await session.execute(select(_DELIVERIES))).all()}

        def at(delivery_id: str) -> datetime:
            value: datetime = rows[delivery_id].next_attempt_at
            return value if value.tzinfo else value.replace(tzinfo=now.tzinfo)

        # Held: still ours, due only when the renewed lease ends.
        assert rows["held"].lease_token == "tok" and at("held") > now + timedelta(seconds=500)
        # Handed back: no longer leased, due again shortly, not attempted.
        assert rows["back"].lease_token is None and at("back") < now + timedelta(seconds=30)
        assert rows["back"].attempts == 0 and rows["back"].status == "pending"
        # Another worker's lease is not touched.
        assert rows["other"].lease_token == "someone-else" and at("other") == soon
    finally:
        await db.dispose()


def test_held_leases_are_renewed_and_surplus_handed_back(database_url: str, tmp_path: Path) -> None:
    upgrade(database_url)
    asyncio.run(_leases(database_url, tmp_path))


async def _refill(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def hang(*_a: Any, **_k: Any) -> AttemptResult:
        await asyncio.Event().wait()
        raise AssertionError

    monkeypatch.setattr(send, "attempt", hang)
    engine = DeliveryEngine(_settings(tmp_path), None, None)  # type: ignore[arg-type]
    engine.sender.start([_job(i, HANG) for i in range(100)], utcnow())
    await asyncio.sleep(0)
    [ep] = engine.sender.endpoints.values()
    assert ep.more  # some were handed back: more is due
    # Half the backlog gone (sent elsewhere in this picture): a refill of exactly the free
    # places is planned, and the general claim still skips the endpoint's subscriptions.
    for _ in range(8):
        engine.sender.held.pop(ep.waiting.pop().delivery_id)
    skipped, refills = engine.sender.plan_claim()
    assert refills == [(ep, 8)] and len(skipped) == 100
    for task in list(engine.sender.tasks):
        task.cancel()
    await asyncio.gather(*engine.sender.tasks, return_exceptions=True)


def test_a_busy_endpoint_is_refilled_by_its_own_claim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(_refill(tmp_path, monkeypatch))
