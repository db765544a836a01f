"""Retention: old finished deliveries go with their attempts, old dispatched events go once no
delivery refers to them; pending deliveries, undispatched events and recent rows stay."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from dockyard.clock import utcnow
from dockyard.config import Settings
from dockyard.db.engine import create_engine, create_sessionmaker
from dockyard.db.migrate import upgrade
from dockyard.events.models import OutboxCursor, OutboxEvent
from dockyard.webhooks.models import Delivery, DeliveryAttempt
from dockyard.webhooks.retention import prune
from tests.unit.webhooks import seeding

DAY = timedelta(days=1)


async def _scenario(url: str) -> None:
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    now = utcnow()
    old, recent = now - 40 * DAY, now - 2 * DAY
    try:
        async with sessions() as session:
            session.add(seeding.subscription("http://example.test/"))
            # Events: seq 1..5.
            events = {
                "old-delivered": (old, old),  # its delivery is pruned: the event goes too
                "old-pending": (old, old),  # a delivery still retrying refers to it: kept
                "old-undelivered": (old, old),  # no subscriber at all: goes
                "old-undispatched": (old, None),  # never dispatched: kept
                "recent": (recent, recent),  # young: kept
            }
            seqs: dict[str, int] = {}
            for name, (created, dispatched) in events.items():
                row = OutboxEvent(
                    type="TAG_PUSH",
                    payload={"name": name},
                    created_at=created,
                    dispatched_at=dispatched,
                )
                session.add(row)
                await session.flush()
                seqs[name] = row.seq
            # The scanner's outbox cursor (scan on push) has read them all: only the webhook
            # deliveries decide here (tests/unit/scanning covers an unread event being kept).
            cursor = await session.get(OutboxCursor, "scanning")
            if cursor is None:
                cursor = OutboxCursor(consumer="scanning")
                session.add(cursor)
            cursor.seq = max(seqs.values())
            # Every other consumer (promotion, mirroring) has read them too.
            await session.execute(update(OutboxCursor).values(seq=max(seqs.values())))

            def delivery(did: str, event: str, status: str, when: datetime) -> Delivery:
                return seeding.delivery(
                    did,
                    next_attempt_at=when,
                    event_created_at=old,
                    event_seq=seqs[event],
                    event_id=did,
                    status=status,
                    attempts=1,
                    created_at=old,
                    updated_at=when,
                )

            session.add_all(
                [
                    delivery("d-old-delivered", "old-delivered", "delivered", old),
                    delivery("d-old-failed", "old-delivered", "failed", old),
                    delivery("d-old-pending", "old-pending", "pending", old),
                    delivery("d-recent", "recent", "delivered", recent),
                ]
            )
            await session.flush()
            for did in ("d-old-delivered", "d-old-failed", "d-old-pending", "d-recent"):
                session.add(DeliveryAttempt(delivery_id=did, outcome="retry", attempted_at=old))
            await session.commit()

        # Batches of 1: the loop runs until nothing old is left.
        pruned = await prune(
            sessions, now=now, event_retention_days=30, delivery_retention_days=30, batch=1
        )
        assert (pruned.deliveries, pruned.events) == (2, 2)

        async with sessions() as session:
            left = set((await session.scalars(select(Delivery.id))).all())
            assert left == {"d-old-pending", "d-recent"}
            attempts = set((await session.scalars(select(DeliveryAttempt.delivery_id))).all())
            assert attempts == {"d-old-pending", "d-recent"}
            kept = {e.payload["name"] for e in (await session.scalars(select(OutboxEvent))).all()}
            assert kept == {"old-pending", "old-undispatched", "recent"}

        # Zero days keeps everything; a later pass with a short period prunes the rest.
        assert await prune(
            sessions, now=now, event_retention_days=0, delivery_retention_days=0
        ) == type(pruned)(0, 0)
        later = await prune(sessions, now=now, event_retention_days=1, delivery_retention_days=1)
        assert (later.deliveries, later.events) == (1, 1)
        async with sessions() as session:
            assert await session.scalar(select(func.count()).select_from(OutboxEvent)) == 2
    finally:
        await engine.dispose()


def test_prune_keeps_what_is_still_needed(database_url: str) -> None:
    upgrade(database_url)
    asyncio.run(_scenario(database_url))


def test_retention_defaults_keep_a_useful_log() -> None:
    settings = Settings()
    assert settings.event_retention_days == 30
    assert settings.delivery_retention_days == 30
