"""The dispatcher: turns outbox events into one delivery per matching active subscription.

One transaction per batch, its reads first and its writes last: read undispatched events (in
seq order; only what matching needs, type and keys), look the subscriptions up by the
(event_type, key) index for the batch's keys only (repository key, namespace key, key-less),
read the payloads of the events some subscription hears (one query; an event nobody hears, a
pull or most pushes, is never decoded), build the rows; then insert the deliveries and mark the
events dispatched where they still are not (one statement each). On SQLite the write lock is
thus held for those two statements, not while a push's 1,000 subscriptions are read and their
rows built. Its cost follows the matching subscriptions, never the unrelated ones. An event
another dispatcher marked in between keeps none of this batch's rows (at-least-once, never
twice). No HTTP here.

Authors: a subscription is matched only while its author may still subscribe to its key (the
rule of creating one, `authors.AuthorAccess`, cached for the batch); one whose author lost that
access is deactivated with the reason as its `inactiveReason`, and gets no delivery.

Hand-off: the caller may take new deliveries for itself (up to `lease_limit`, and those its
`take` accepts). Those rows are inserted already leased (its token, due again when the lease
ends) and come back with what sending needs (subscription, payload), so the first attempt costs
no claim and no reload; if the caller dies before recording them, the lease ends and any worker
claims them again.

`Dispatcher` is the dispatch stage of the delivery engine: one batch per step, places for the
hand-offs reserved in the send stage while the batch commits, their jobs built by the one job
builder and started at once; the rest is left to the claim stage.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dockyard.clock import utcnow
from dockyard.config import Settings
from dockyard.events import bus
from dockyard.events.models import DELIVERY_SOURCE_COLUMNS, OutboxEvent
from dockyard.jobs.lease import new_token
from dockyard.webhooks import metrics
from dockyard.webhooks.authors import deactivate_lost
from dockyard.webhooks.filters import accepts
from dockyard.webhooks.job import JobSource, build_jobs
from dockyard.webhooks.models import Delivery, Subscription
from dockyard.webhooks.send import Endpoint, Sender

log = logging.getLogger(__name__)

# At most this many new deliveries of one batch are handed straight to the sender; the rest wait
# for the claim stage, which takes due deliveries in bounded batches too. A push to a repository
# with 10,000 subscriptions thus never puts 10,000 jobs (bodies, signed headers) in memory at once.
HANDOFF_LIMIT = 100

_OUTBOX: Table = OutboxEvent.__table__  # type: ignore[assignment]
_DELIVERIES: Table = Delivery.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Handoff:
    """A delivery inserted leased to the dispatching worker, with what sending it needs."""

    delivery: dict[str, Any]
    subscription: Any  # row: id, endpoint, tls_cert, skip_tls_verification, secrets
    payload: Any


@dataclass(frozen=True)
class DispatchResult:
    events: int
    deliveries: int
    handoffs: list[Handoff] = field(default_factory=list)
    deactivated: int = 0  # subscriptions whose author lost access


def _event_kind(payload: Any) -> str | None:
    if isinstance(payload, dict):
        contents = payload.get("contents")
        if isinstance(contents, dict):
            kind = contents.get("event")
            return kind if isinstance(kind, str) else None
    return None


async def dispatch_batch(
    session: AsyncSession,
    now: datetime,
    limit: int = 500,
    *,
    lease_token: str | None = None,
    lease_seconds: float = 60.0,
    lease_limit: int | None = None,
    take: Callable[[Any], bool] | None = None,
) -> DispatchResult:
    # Read and build first, write last: on SQLite the first write takes the database's one
    # write lock until the commit, and every registry write queues behind it. Reading the
    # subscriptions of a push to 1,000 of them and building the rows inside the write held it
    # ~100 ms; now the write holds it for the insert and the marking only.
    events = await _pending_events(session, limit)
    if not events:
        return DispatchResult(0, 0)
    index, lost = await _subscribers(session, events)
    # Only the events some subscription listens to need their payload (filters, the first
    # attempt's body): the others cost their share of the read and of the subscriptions query.
    heard = await _load(
        session, [e.seq for e in events if any(index.get((e.type, k)) for k in _event_keys(e))]
    )
    rows: list[dict[str, Any]] = []
    handoffs: list[Handoff] = []
    leased_until = now + timedelta(seconds=lease_seconds)
    for e, sub in _matches(heard, index):
        row = _delivery_row(e, sub.id, now)
        if (
            lease_token is not None
            and (lease_limit is None or len(handoffs) < lease_limit)
            and (take is None or take(sub))
        ):
            row["next_attempt_at"] = leased_until
            row["lease_token"] = lease_token
            handoffs.append(Handoff(row, sub, e.payload))
        rows.append(row)
    if rows:
        await session.execute(insert(_DELIVERIES), rows)
    claimed = await _mark_dispatched(session, [e.seq for e in events], now)
    if len(claimed) < len(events):
        # Another dispatcher took some of these events between the read and this write (two
        # engines on one SQLite file): their deliveries are its to make, not ours.
        mine = [row for row in rows if row["event_seq"] in claimed]
        dropped = [row["id"] for row in rows if row["event_seq"] not in claimed]
        if dropped:
            await session.execute(delete(_DELIVERIES).where(_DELIVERIES.c.id.in_(dropped)))
        rows = mine
        handoffs = [h for h in handoffs if h.delivery["event_seq"] in claimed]
    return DispatchResult(len(claimed), len(rows), handoffs, len(lost))


async def _pending_events(session: AsyncSession, limit: int) -> list[Any]:
    """Up to `limit` undispatched events in seq order, with only what matching needs (type and
    keys): no payload, no timestamp. A read: on PostgreSQL it locks the rows (SKIP LOCKED, so
    another dispatcher takes the next ones), on SQLite it takes no lock at all."""
    stmt = (
        select(
            _OUTBOX.c.seq,
            _OUTBOX.c.type,
            _OUTBOX.c.repository_key,
            _OUTBOX.c.namespace_key,
        )
        .where(_OUTBOX.c.dispatched_at.is_(None))
        .order_by(_OUTBOX.c.seq)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list(await session.execute(stmt))


async def _mark_dispatched(session: AsyncSession, seqs: list[int], now: datetime) -> set[int]:
    """Mark these events dispatched, in one statement, where they still are not; returns the
    seqs it marked."""
    marked = await session.execute(
        update(_OUTBOX)
        .where(_OUTBOX.c.seq.in_(seqs), _OUTBOX.c.dispatched_at.is_(None))
        .values(dispatched_at=now)
        .returning(_OUTBOX.c.seq)
    )
    return set(marked.scalars())


async def _subscribers(
    session: AsyncSession, events: list[Any]
) -> tuple[dict[tuple[str, str], list[Any]], dict[str, str]]:
    """The active subscriptions for the batch's types and keys, by (type, key), whose author
    may still subscribe; and those deactivated because the author may not ({id: reason})."""
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
                Subscription.endpoint,
                Subscription.tls_cert,
                Subscription.skip_tls_verification,
                Subscription.secret,
                Subscription.previous_secret,
                Subscription.previous_secret_expires_at,
                Subscription.author_id,
                Subscription.tag_filter,
                Subscription.min_severity,
                Subscription.format,
                Subscription.tls_client_sealed,
            ).where(
                Subscription.event_type.in_(types),
                Subscription.key.in_(keys),
                Subscription.inactive.is_(False),
            )
        )
    ).all()
    lost = await deactivate_lost(session, subs)
    index: dict[tuple[str, str], list[Any]] = {}
    for sub in subs:
        if sub.id not in lost:
            index.setdefault((sub.event_type, sub.key), []).append(sub)
    return index, lost


async def _load(session: AsyncSession, seqs: list[int]) -> list[Any]:
    """These events whole (payload decoded), in seq order: those some subscription hears."""
    if not seqs:
        return []
    rows = await session.execute(
        select(*DELIVERY_SOURCE_COLUMNS).where(_OUTBOX.c.seq.in_(seqs)).order_by(_OUTBOX.c.seq)
    )
    return list(rows)


def _event_keys(e: Any) -> set[str]:
    """The subscription keys an event matches: its repository, its namespace, key-less."""
    return {"", e.repository_key or "", e.namespace_key or ""}


def _matches(
    events: list[Any], index: dict[tuple[str, str], list[Any]]
) -> Iterator[tuple[Any, Any]]:
    """(event, subscription) for each delivery to make, in event order."""
    for e in events:
        kind = _event_kind(e.payload) if e.type == "REPO_EVENT" else None
        for key in _event_keys(e):
            for sub in index.get((e.type, key), ()):
                if sub.repo_event_filter and sub.repo_event_filter != kind:
                    continue
                if not accepts(sub.tag_filter, sub.min_severity, e.type, e.payload):
                    continue
                yield e, sub


def _delivery_row(e: Any, subscription_id: str, now: datetime) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "subscription_id": subscription_id,
        "event_seq": e.seq,
        "event_id": e.id,
        "event_type": e.type,
        "event_created_at": e.created_at,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "lease_token": None,
        "created_at": now,
        "updated_at": now,
        "last_error": "",
    }


def _source(handoff: Handoff) -> JobSource:
    d = handoff.delivery
    return JobSource(
        delivery_id=d["id"],
        attempts=0,
        event_seq=d["event_seq"],
        event_id=d["event_id"],
        event_created_at=d["event_created_at"],
        subscription_id=d["subscription_id"],
        subscription=handoff.subscription,
        payload=handoff.payload,
    )


class Dispatcher:
    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        sender: Sender,
    ) -> None:
        self.lease_seconds = settings.webhook_lease_seconds
        self.sessionmaker = sessionmaker
        self.sender = sender
        # Set after each commit that recorded events (in this process or, through the wake
        # socket, in another).
        self.wake = bus.subscribe_wakeups()

    async def step(self) -> int:
        """One batch of events; returns how many were dispatched."""
        now = utcnow()
        token = new_token()
        reserved: list[Endpoint] = []

        def take(sub: Any) -> bool:
            """Hand a new delivery to this engine only while its endpoint has room."""
            ep = self.sender.reserve(sub.id, sub.endpoint)
            if ep is None:
                return False
            reserved.append(ep)
            return True

        try:
            async with self.sessionmaker() as session:
                result = await dispatch_batch(
                    session,
                    now,
                    lease_token=token,
                    lease_seconds=self.lease_seconds,
                    lease_limit=HANDOFF_LIMIT,
                    take=take,
                )
                await session.commit()
        finally:
            self.sender.release(reserved)
        if result.events:
            metrics.EVENTS_DISPATCHED.inc(result.events)
        if result.deactivated:
            log.warning(
                "webhook.subscription.author_lost_access", extra={"count": result.deactivated}
            )
        if result.handoffs:
            self.sender.start(build_jobs(token, map(_source, result.handoffs), now), now)
        if result.deliveries > len(result.handoffs):
            self.sender.claim_wake.set()
        return result.events
