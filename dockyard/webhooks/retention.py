"""Retention of the event outbox and the delivery log, enforced by the delivery process.

Finished deliveries (delivered or failed) older than `delivery_retention_days` go with their
attempts; dispatched outbox events older than `event_retention_days` go once no delivery still
refers to them (a pending or redelivered delivery loads its payload from the event). Pending
deliveries and undispatched events are never deleted. Deletes run in small batches, one short
transaction each, so pushes keep the SQLite write lock most of the time. No HTTP here.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Table, delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dockyard.clock import utcnow
from dockyard.config import Settings
from dockyard.events.models import OutboxCursor, OutboxEvent
from dockyard.webhooks.models import Delivery, DeliveryAttempt

log = logging.getLogger(__name__)

_OUTBOX: Table = OutboxEvent.__table__  # type: ignore[assignment]
_DELIVERIES: Table = Delivery.__table__  # type: ignore[assignment]
_ATTEMPTS: Table = DeliveryAttempt.__table__  # type: ignore[assignment]

BATCH = 500
# The first pass soon after start, then one an hour: retention is in days.
FIRST_DELAY = 60.0
INTERVAL = 3600.0
FINISHED = ("delivered", "failed")


@dataclass(frozen=True)
class Pruned:
    deliveries: int = 0
    events: int = 0


async def prune_deliveries(session: AsyncSession, cutoff: datetime, limit: int = BATCH) -> int:
    """Delete up to `limit` finished deliveries last updated before `cutoff`, and their
    attempts. The caller commits."""
    ids: list[str] = []
    for status in FINISHED:
        # next_attempt_at is stamped when a delivery finishes: the (status, next_attempt_at)
        # index finds old ones without a scan; updated_at makes it exact.
        ids += (
            await session.scalars(
                select(_DELIVERIES.c.id)
                .where(
                    _DELIVERIES.c.status == status,
                    _DELIVERIES.c.next_attempt_at < cutoff,
                    _DELIVERIES.c.updated_at < cutoff,
                )
                .limit(limit - len(ids))
            )
        ).all()
        if len(ids) >= limit:
            break
    if not ids:
        return 0
    await session.execute(delete(_ATTEMPTS).where(_ATTEMPTS.c.delivery_id.in_(ids)))
    # Guarded again: a delivery redelivered meanwhile (pending again) is kept.
    await session.execute(
        delete(_DELIVERIES).where(_DELIVERIES.c.id.in_(ids), _DELIVERIES.c.status.in_(FINISHED))
    )
    return len(ids)


async def prune_events(session: AsyncSession, cutoff: datetime, limit: int = BATCH) -> int:
    """Delete up to `limit` outbox events dispatched before `cutoff` that no delivery refers
    to and every outbox cursor has passed. The caller commits."""
    referenced = exists().where(_DELIVERIES.c.event_seq == _OUTBOX.c.seq)
    # An event another consumer (scan on push) has not read yet is kept.
    unread = exists().where(OutboxCursor.seq < _OUTBOX.c.seq)
    kept = referenced | unread
    # dispatched_at < cutoff uses the (dispatched_at, seq) index; undispatched rows are NULL.
    seqs = (
        await session.scalars(
            select(_OUTBOX.c.seq)
            .where(_OUTBOX.c.dispatched_at < cutoff, _OUTBOX.c.created_at < cutoff, ~kept)
            .order_by(_OUTBOX.c.dispatched_at)
            .limit(limit)
        )
    ).all()
    if not seqs:
        return 0
    await session.execute(delete(_OUTBOX).where(_OUTBOX.c.seq.in_(seqs), ~kept))
    return len(seqs)


async def prune(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    event_retention_days: float,
    delivery_retention_days: float,
    batch: int = BATCH,
) -> Pruned:
    """One full pass: batches until nothing old is left. 0 days keeps that kind forever."""
    deliveries = events = 0
    if delivery_retention_days > 0:
        cutoff = now - timedelta(days=delivery_retention_days)
        while True:
            async with sessionmaker() as session:
                n = await prune_deliveries(session, cutoff, batch)
                await session.commit()
            deliveries += n
            if n < batch:
                break
            await asyncio.sleep(0)  # let the engine's own writes in between
    if event_retention_days > 0:
        cutoff = now - timedelta(days=event_retention_days)
        while True:
            async with sessionmaker() as session:
                n = await prune_events(session, cutoff, batch)
                await session.commit()
            events += n
            if n < batch:
                break
            await asyncio.sleep(0)
    return Pruned(deliveries, events)


async def run_retention(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Prune now and then until cancelled; a failed pass is logged and tried again later."""
    if settings.event_retention_days <= 0 and settings.delivery_retention_days <= 0:
        return
    await asyncio.sleep(FIRST_DELAY)
    while True:
        try:
            pruned = await prune(
                sessionmaker,
                now=utcnow(),
                event_retention_days=settings.event_retention_days,
                delivery_retention_days=settings.delivery_retention_days,
            )
            if pruned.deliveries or pruned.events:
                log.info(
                    "webhook.retention.pruned",
                    extra={"deliveries": pruned.deliveries, "events": pruned.events},
                )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("webhook.retention.failed")
        await asyncio.sleep(INTERVAL)
