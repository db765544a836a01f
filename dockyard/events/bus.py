"""`record`: append an event to the outbox inside the caller's transaction.

The caller commits; an event exists exactly when the change it reports does. After the
commit, in-process consumers are woken through `notify_committed` so they need not wait for
their next poll.
"""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.events.models import OutboxEvent
from dockyard.events.types import Event

_listeners: list[asyncio.Event] = []


def record(session: AsyncSession, event: Event) -> OutboxEvent:
    row = OutboxEvent(
        type=event.type.value,
        repository_key=event.repository_key,
        namespace_key=event.namespace,
        actor=event.actor,
        payload=event.payload(),
        created_at=event.created_at,
    )
    session.add(row)
    return row


def subscribe_wakeups() -> asyncio.Event:
    """An asyncio.Event set after each commit that recorded events (in this process)."""
    waker = asyncio.Event()
    _listeners.append(waker)
    return waker


def notify_committed() -> None:
    for waker in _listeners:
        waker.set()
