"""The record stage: `summarize` alone (pure), and the writer when a delivery was deleted while
it was being sent (its subscription deleted): that delivery gets no attempt row and the rest of
the batch is recorded, also when the delete lands between reading the ids and the insert."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table, delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dockyard.clock import utcnow
from dockyard.db.engine import create_engine, create_sessionmaker
from dockyard.db.migrate import upgrade
from dockyard.webhooks import record
from dockyard.webhooks.delivery import AttemptResult
from dockyard.webhooks.job import Job
from dockyard.webhooks.models import Delivery, DeliveryAttempt, Subscription
from dockyard.webhooks.record import Recorder, summarize
from dockyard.webhooks.retry import ErrorKind

_DELIVERIES: Table = Delivery.__table__  # type: ignore[assignment]
_ATTEMPTS: Table = DeliveryAttempt.__table__  # type: ignore[assignment]
SCHEDULE = [10.0, 60.0]
OK = AttemptResult(200, None, "", 12.5, "ok")


def _job(delivery_id: str, subscription_id: str, attempts: int = 0) -> Job:
    return Job(
        delivery_id=delivery_id,
        token="tok",
        attempts=attempts,
        event_created_at=utcnow() - timedelta(seconds=1),
        subscription_id=subscription_id,
        endpoint="http://receiver.test/hook",
        tls_cert="",
        skip_tls_verification=False,
        body=b"{}",
        headers={},
    )


def test_summarize_decides_each_result_and_the_subscriptions_health() -> None:
    now = utcnow()
    failed = AttemptResult(None, ErrorKind.NETWORK, "network: refused", 3.0, "")
    gone = AttemptResult(410, None, "", 2.0, "")
    skipped = _job("d4", "s3")
    skipped.skip_reason = "The subscription is inactive."
    batch: list[record.Result] = [
        (_job("d1", "s1"), failed, now),
        (_job("d2", "s1"), OK, now + timedelta(seconds=1)),
        (_job("d3", "s2", attempts=2), gone, now),
        (skipped, None, now),
    ]
    out = summarize(batch, SCHEDULE, now)
    states = {row["b_id"]: (row["b_status"], row["b_attempts"]) for row in out.deliveries}
    assert states == {
        "d1": ("pending", 1),
        "d2": ("delivered", 1),
        "d3": ("failed", 3),
        "d4": ("failed", 0),  # not sent: no attempt counted, no attempt row
    }
    assert [row["delivery_id"] for row in out.attempts] == ["d1", "d2", "d3"]
    assert [(r["b_id"], r["b_failures"]) for r in out.reset] == [("s1", 0)]
    assert [(r["b_id"], r["b_n"]) for r in out.bump] == [("s2", 1)]
    assert out.deactivate == [{"b_id": "s2", "b_reason": "The endpoint answered 410 Gone."}]
    assert out.outcomes == {"retry": 1, "delivered": 1, "deactivated": 1, "failed": 1}


async def _seed(sessions: async_sessionmaker[AsyncSession]) -> None:
    now = utcnow()
    async with sessions() as session:
        for sub_id in ("kept", "deleted"):
            session.add(
                Subscription(
                    id=sub_id,
                    type="TAG_PUSH",
                    event_type="TAG_PUSH",
                    key="ns/repo",
                    endpoint="http://receiver.test/hook",
                    author_id="a",
                    secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                )
            )
        await session.flush()
        for delivery_id, sub_id in (("d-kept", "kept"), ("d-deleted", "deleted")):
            session.add(
                Delivery(
                    id=delivery_id,
                    subscription_id=sub_id,
                    event_seq=1,
                    event_id="e",
                    event_type="TAG_PUSH",
                    event_created_at=now,
                    status="pending",
                    next_attempt_at=now + timedelta(seconds=60),
                    lease_token="tok",
                )
            )
        await session.commit()


async def _deleted_while_sending(url: str, stale_read: bool, monkeypatch: Any) -> None:
    db = create_engine(url)
    sessions = create_sessionmaker(db)
    try:
        await _seed(sessions)
        recorder = Recorder(sessions, SCHEDULE)
        # Both sent; then the subscription is deleted (and its deliveries with it) before the
        # results are recorded.
        recorder.add(_job("d-kept", "kept"), OK, utcnow())
        recorder.add(_job("d-deleted", "deleted"), OK, utcnow())
        async with sessions() as session:
            await session.execute(delete(Subscription).where(Subscription.id == "deleted"))
            await session.commit()
        if stale_read:
            # The delete lands after the ids were read: the insert breaks the foreign key once.
            real = record._existing
            calls: list[int] = []

            async def stale(session: AsyncSession, ids: set[str]) -> set[str]:
                calls.append(1)
                return set(ids) if len(calls) == 1 else await real(session, ids)

            monkeypatch.setattr(record, "_existing", stale)
        await recorder.flush()
        async with sessions() as session:
            rows = {r.id: r for r in (await session.execute(select(_DELIVERIES))).all()}
            attempts = (await session.execute(select(_ATTEMPTS.c.delivery_id))).scalars().all()
        assert set(rows) == {"d-kept"}
        assert rows["d-kept"].status == "delivered" and rows["d-kept"].attempts == 1
        assert rows["d-kept"].lease_token is None
        assert list(attempts) == ["d-kept"]
    finally:
        await db.dispose()


@pytest.mark.parametrize("stale_read", [False, True], ids=["deleted-before", "deleted-during"])
def test_a_delivery_deleted_while_sending_does_not_lose_the_batch(
    database_url: str, tmp_path: Path, stale_read: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    upgrade(database_url)
    asyncio.run(_deleted_while_sending(database_url, stale_read, monkeypatch))
