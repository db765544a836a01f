"""The dispatcher: turns outbox events into one delivery per matching active subscription.

One transaction per batch: claim undispatched events (in seq order), look the subscriptions
up by the (event_type, key) index for the batch's keys only (repository key, namespace key,
key-less), insert the deliveries and mark the events dispatched. Its cost follows the
matching subscriptions, never the unrelated ones. No HTTP here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.events.models import OutboxEvent
from dockyard.webhooks.models import Delivery, Subscription

_OUTBOX: Table = OutboxEvent.__table__  # type: ignore[assignment]
_DELIVERIES: Table = Delivery.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class DispatchResult:
    events: int
    deliveries: int


def _event_kind(payload: Any) -> str | None:
    if isinstance(payload, dict):
        contents = payload.get("contents")
        if isinstance(contents, dict):
            kind = contents.get("event")
            return kind if isinstance(kind, str) else None
    return None


async def dispatch_batch(session: AsyncSession, now: datetime, limit: int = 500) -> DispatchResult:
    candidates = (
        select(_OUTBOX.c.seq)
        .where(_OUTBOX.c.dispatched_at.is_(None))
        .order_by(_OUTBOX.c.seq)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    claimed = (
        await session.execute(
            update(_OUTBOX)
            .where(_OUTBOX.c.seq.in_(candidates.scalar_subquery()))
            .values(dispatched_at=now)
            .returning(
                _OUTBOX.c.seq,
                _OUTBOX.c.id,
                _OUTBOX.c.type,
                _OUTBOX.c.repository_key,
                _OUTBOX.c.namespace_key,
                _OUTBOX.c.created_at,
                _OUTBOX.c.payload,
            )
        )
    ).all()
    if not claimed:
        return DispatchResult(0, 0)
    events = sorted(claimed, key=lambda row: row.seq)
    types = {e.type for e in events}
    keys = {""}
    for e in events:
        if e.repository_key:
            keys.add(e.repository_key)
        if e.namespace_key:
            keys.add(e.namespace_key)
    subs = (
        await session.execute(
            select(
                Subscription.id,
                Subscription.event_type,
                Subscription.key,
                Subscription.repo_event_filter,
            ).where(
                Subscription.event_type.in_(types),
                Subscription.key.in_(keys),
                Subscription.inactive.is_(False),
            )
        )
    ).all()
    index: dict[tuple[str, str], list[Any]] = {}
    for sub in subs:
        index.setdefault((sub.event_type, sub.key), []).append(sub)
    rows: list[dict[str, Any]] = []
    for e in events:
        kind = _event_kind(e.payload) if e.type == "REPO_EVENT" else None
        event_keys = {"", e.repository_key or "", e.namespace_key or ""}
        for key in event_keys:
            for sub in index.get((e.type, key), ()):
                if sub.repo_event_filter and sub.repo_event_filter != kind:
                    continue
                rows.append(
                    {
                        "id": str(uuid.uuid4()),
                        "subscription_id": sub.id,
                        "event_seq": e.seq,
                        "event_id": e.id,
                        "event_type": e.type,
                        "event_created_at": e.created_at,
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                        "updated_at": now,
                        "last_error": "",
                    }
                )
    if rows:
        await session.execute(insert(_DELIVERIES), rows)
    return DispatchResult(len(events), len(rows))
