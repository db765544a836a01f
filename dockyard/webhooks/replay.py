"""Replay: send a subscription again every event it would have matched since a time, read from
the retained outbox, as new deliveries marked `replay` (for a receiver that lost its state).

Which events: those already dispatched (an undispatched one is about to be delivered anyway),
created at or after `since`, of the subscription's event type, on its key (the repository, the
namespace, or any for a key-less subscription), passing its REPO_EVENT kind filter and its
`tagFilter` and `minSeverity` (`webhooks.filters`): the rules the dispatcher applies. Each
replay delivery keeps the event's `webhook-id` and body (in the subscription's format): it is
the same message, so a receiver that still remembers it de-duplicates it.

Bounded: `since` must lie within the event retention period (older events may be gone, so the
replay could not be complete: a 400, not a silent clamp), and one replay queues at most
`MAX_REPLAY` deliveries, reporting where to resume. No HTTP here.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.clock import rfc3339
from dockyard.errors import DockyardError, ErrorCode
from dockyard.events import bus
from dockyard.events.models import DELIVERY_SOURCE_COLUMNS, OutboxEvent
from dockyard.webhooks.filters import accepts
from dockyard.webhooks.models import Delivery, Subscription

MAX_REPLAY = 10_000
BATCH = 1000

_OUTBOX: Table = OutboxEvent.__table__  # type: ignore[assignment]
_DELIVERIES: Table = Delivery.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class ReplayResult:
    queued: int
    # The creation time of the first matching event left out by the cap, if any.
    next_since: datetime | None = None


def check_since(since: datetime, now: datetime, retention_days: float) -> None:
    """400 unless `since` lies within the event retention period (0 days: kept forever)."""
    if retention_days <= 0:
        return
    earliest = now - timedelta(days=retention_days)
    if since < earliest:
        raise DockyardError(
            ErrorCode.INVALID_PARAMETERS,
            f"since is older than the event retention period ({retention_days:g} days): events "
            f"before it may be gone. Replay from {rfc3339(earliest)} or later.",
            detail={"field": "since", "earliest": rfc3339(earliest)},
        )


def check_active(sub: Subscription) -> None:
    if sub.inactive:
        raise DockyardError(
            ErrorCode.INVALID_PARAMETERS,
            "The webhook is inactive: activate it before replaying events to it.",
            detail={"id": sub.id},
        )


def _event_kind(payload: Any) -> str | None:
    contents = payload.get("contents") if isinstance(payload, dict) else None
    kind = contents.get("event") if isinstance(contents, dict) else None
    return kind if isinstance(kind, str) else None


def matches(sub: Any, event: Any) -> bool:
    """Whether the dispatcher would have made a delivery of `event` for `sub` (both rows or
    objects with the outbox's and the subscription's column names)."""
    if event.type != sub.event_type:
        return False
    if sub.key and sub.key not in (event.repository_key, event.namespace_key):
        return False
    if (
        sub.repo_event_filter
        and event.type == "REPO_EVENT"
        and _event_kind(event.payload) != sub.repo_event_filter
    ):
        return False
    return accepts(sub.tag_filter, sub.min_severity, event.type, event.payload)


def _candidates(sub: Subscription, since: datetime) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [
        _OUTBOX.c.type == sub.event_type,
        # An event is dispatched at or after its creation: undispatched ones are left out.
        _OUTBOX.c.dispatched_at >= since,
        _OUTBOX.c.created_at >= since,
    ]
    # A repository key ("ns/repo") is only ever an event's repository key, a namespace key only
    # its namespace key: one column each, read in seq order from its (key, seq) index.
    if "/" in sub.key:
        where.append(_OUTBOX.c.repository_key == sub.key)
    elif sub.key:
        where.append(_OUTBOX.c.namespace_key == sub.key)
    return where


async def _first_seq(session: AsyncSession, since: datetime) -> int | None:
    """The first event dispatched since `since` (from the (dispatched_at, seq) index): the
    batches start there rather than at the oldest retained event."""
    first = await session.scalar(
        select(func.min(_OUTBOX.c.seq)).where(_OUTBOX.c.dispatched_at >= since)
    )
    return None if first is None else int(first)


async def _batch(
    session: AsyncSession, where: Sequence[ColumnElement[bool]], after: int
) -> list[Any]:
    rows = await session.execute(
        select(*DELIVERY_SOURCE_COLUMNS)
        .where(*where, _OUTBOX.c.seq > after)
        .order_by(_OUTBOX.c.seq)
        .limit(BATCH)
    )
    return list(rows.all())


def _row(sub: Subscription, event: Any, now: datetime) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "subscription_id": sub.id,
        "event_seq": event.seq,
        "event_id": event.id,
        "event_type": event.type,
        "event_created_at": event.created_at,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "lease_token": None,
        "created_at": now,
        "updated_at": now,
        "last_error": "",
        "replay": True,
    }


async def replay(
    session: AsyncSession,
    sub: Subscription,
    since: datetime,
    now: datetime,
    limit: int = MAX_REPLAY,
) -> ReplayResult:
    """Queue a replay delivery for each matching event since `since`, oldest first, at most
    `limit`. The caller checks the bounds (`check_since`, `check_active`) and commits.

    Every event is read before any delivery is written: on SQLite the first write takes the
    database's write lock until the commit, and pushes should not wait while the outbox is read.
    """
    where = _candidates(sub, since)
    rows: list[dict[str, Any]] = []
    next_since: datetime | None = None
    first = await _first_seq(session, since)
    if first is None:
        return ReplayResult(0)
    after = first - 1
    while next_since is None:
        events = await _batch(session, where, after)
        if not events:
            break
        after = events[-1].seq
        for event in events:
            if not matches(sub, event):
                continue
            if len(rows) >= limit:
                next_since = event.created_at
                break
            rows.append(_row(sub, event, now))
    for chunk in range(0, len(rows), BATCH):
        await session.execute(insert(_DELIVERIES), rows[chunk : chunk + BATCH])
    if rows:
        # Wake the delivery engine after the commit, as a recorded event does.
        bus.mark_recorded(session)
    return ReplayResult(len(rows), next_since)
