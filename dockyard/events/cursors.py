"""Outbox consumers other than the webhook dispatcher (scan on push, promotion, mirroring) read
the outbox past a cursor of their own; this is that read, written once.

No HTTP here. The caller handles the events and commits, the cursor's advance with its work.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.clock import utcnow
from dockyard.events.models import OutboxCursor, OutboxEvent

# On PostgreSQL a `seq` is handed out at insert, so a lower one may commit after a higher one:
# a cursor only passes events this old, so it never skips a late commit.
SETTLE = timedelta(seconds=5)


async def read_past(
    session: AsyncSession, consumer: str, limit: int
) -> tuple[OutboxCursor, list[tuple[int, str, Any]]]:
    """The consumer's cursor and up to `limit` events (seq, type, payload) past it, in order.
    Advance with `cursor.seq = rows[-1][0]` once they are handled."""
    cursor = await session.get(OutboxCursor, consumer)
    if cursor is None:  # the migrations start cursors at the outbox's end; a bare schema at 0
        cursor = OutboxCursor(consumer=consumer, seq=0)
        session.add(cursor)
    stmt = select(OutboxEvent.seq, OutboxEvent.type, OutboxEvent.payload).where(
        OutboxEvent.seq > cursor.seq
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.where(OutboxEvent.created_at <= utcnow() - SETTLE)
    result = await session.execute(stmt.order_by(OutboxEvent.seq).limit(limit))
    return cursor, [(int(seq), str(type_), payload) for seq, type_, payload in result]
