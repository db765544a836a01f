"""`record`: append an event to the outbox inside the caller's transaction.

The caller's unit of work commits; an event exists exactly when the change it reports does.
Recording marks the session; after a commit of a marked session, in-process consumers are
woken (`notify_committed`) so they need not wait for their next poll. Nobody wakes by hand.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from dockyard.events.models import OutboxEvent
from dockyard.events.types import Event

_listeners: list[asyncio.Event] = []
# Tasks that pass a local commit on to other processes or nodes (events.notify): woken by
# commits here, never by a wake-up that came from elsewhere (which would echo it back).
_forwarders: list[asyncio.Event] = []
# Session.info key: this transaction recorded events (consumers are woken after its commit).
_RECORDED = "dockyard.events.recorded"


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
    mark_recorded(session)
    return row


def mark_recorded(session: AsyncSession) -> None:
    """Wake the consumers after this session's next commit (for rows written without `record`)."""
    session.info[_RECORDED] = True


def subscribe_wakeups() -> asyncio.Event:
    """An asyncio.Event set after each commit that recorded events (in this process)."""
    waker = asyncio.Event()
    _listeners.append(waker)
    return waker


def subscribe_forwarding() -> asyncio.Event:
    """An asyncio.Event set after each commit in this process, not by `wake_local`."""
    waker = asyncio.Event()
    _forwarders.append(waker)
    return waker


def notify_committed() -> None:
    wake_local()
    for waker in _forwarders:
        waker.set()


def wake_local() -> None:
    """Wake this process's consumers (a commit elsewhere was announced)."""
    for waker in _listeners:
        waker.set()


@sa_event.listens_for(Session, "after_commit")
def _wake_after_commit(session: Session) -> None:
    if session.info.pop(_RECORDED, False):
        notify_committed()


@sa_event.listens_for(Session, "after_soft_rollback")
def _forget_after_rollback(session: Session, previous_transaction: object) -> None:
    session.info.pop(_RECORDED, None)
