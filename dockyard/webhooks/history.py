"""The delivery log of a subscription, and redelivery (one delivery, or in bulk).

Each attempt is shown with the request it sent (headers and body, kept by the record stage;
no secret is ever stored, only the signature, a MAC of the body), the receiver's status and the
start of its answer; a pending delivery with its next attempt time; a replay's delivery marked.

Redelivering resets a delivery to pending and due now with a fresh retry budget; its attempt
history is kept (`attemptCount` counts every attempt ever made, before and after redelivery, as
`attempts[]` lists them) and the event keeps its `webhook-id`, so receivers can still
de-duplicate. No HTTP here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.clock import rfc3339, utcnow
from dockyard.errors import DockyardError, ErrorCode
from dockyard.webhooks.checks import status_filter
from dockyard.webhooks.log_schemas import DeliveryAttemptLog, DeliveryLog, SentRequest
from dockyard.webhooks.models import Delivery, DeliveryAttempt, Subscription
from dockyard.webhooks.schemas import RedeliverRequest

MAX_ATTEMPTS_SHOWN = 50
# OFFSET is a signed 64-bit integer in SQLite and PostgreSQL.
MAX_PAGE_START = 2**63 - 1


def attempt_wire(a: DeliveryAttempt) -> DeliveryAttemptLog:
    sent = None
    if a.request_headers is not None:
        sent = SentRequest(headers=a.request_headers, body=a.request_body or "")
    return DeliveryAttemptLog(
        attemptedAt=rfc3339(a.attempted_at),
        statusCode=a.status_code,
        latencyMs=a.latency_ms,
        outcome=a.outcome,
        error=a.error,
        response=a.response_excerpt,
        request=sent,
    )


def delivery_wire(
    d: Delivery, attempts: Sequence[DeliveryAttempt], attempt_count: int | None = None
) -> DeliveryLog:
    """`attempt_count`: every attempt recorded (`attempts` may hold only the latest ones).
    `d.attempts` is the retry budget used since the last redelivery, not a history count."""
    return DeliveryLog(
        id=d.id,
        webhookID=d.subscription_id,
        eventID=d.event_id,
        eventType=d.event_type,
        eventCreatedAt=rfc3339(d.event_created_at),
        status=d.status,  # one of STATUSES: the model checks it
        attemptCount=len(attempts) if attempt_count is None else attempt_count,
        nextAttemptAt=rfc3339(d.next_attempt_at) if d.status == "pending" else None,
        lastStatusCode=d.last_status_code,
        lastError=d.last_error,
        deliveredAt=rfc3339(d.delivered_at) if d.delivered_at else None,
        createdAt=rfc3339(d.created_at),
        attempts=[attempt_wire(a) for a in attempts],
        replay=d.replay,
    )


async def list_deliveries(
    session: AsyncSession,
    sub: Subscription,
    *,
    status: Any,
    page_start: int,
    page_size: int,
    count: bool = True,
) -> tuple[list[DeliveryLog], int | None, int]:
    """A page of deliveries, newest first, cut in SQL; returns (page, next page start or None,
    total: -1 unless `count`). `pageStart` is an offset (documented in docs/webhooks.md, and the
    UI's page numbers are offsets): an index keeps it cheap for the pages anyone reads."""
    wanted = status_filter(status)
    if page_start > MAX_PAGE_START:
        page_start = MAX_PAGE_START  # beyond every row: an empty page, not a database overflow
    where = [Delivery.subscription_id == sub.id]
    if wanted:
        where.append(Delivery.status == wanted)
    total = -1
    if count:
        total = await session.scalar(select(func.count()).select_from(Delivery).where(*where)) or 0
    ids = (
        await session.scalars(
            select(Delivery.id)
            .where(*where)
            .order_by(Delivery.created_at.desc(), Delivery.event_seq.desc(), Delivery.id)
            .offset(page_start)
            .limit(page_size + 1)
        )
    ).all()
    more = len(ids) > page_size
    page = await _logs_of(session, sub, list(ids[:page_size]))
    return page, (page_start + page_size if more else None), int(total)


async def _logs_of(session: AsyncSession, sub: Subscription, ids: list[str]) -> list[DeliveryLog]:
    """The deliveries `ids` of `sub` (in that order; one deleted meanwhile, or another
    subscription's, is left out) with their latest MAX_ATTEMPTS_SHOWN attempts and how many
    there are in all. One statement reads both: the record stage updates a delivery and inserts
    its attempt in one transaction, and two reads could fall either side of it (an attempt
    shown beside the delivery's lease as its next attempt time)."""
    if not ids:
        return []
    rows = (
        await session.execute(
            select(Delivery, DeliveryAttempt)
            .outerjoin(DeliveryAttempt, DeliveryAttempt.delivery_id == Delivery.id)
            .where(Delivery.id.in_(ids), Delivery.subscription_id == sub.id)
            .order_by(DeliveryAttempt.id)
            .execution_options(populate_existing=True)
        )
    ).all()
    found: dict[str, tuple[Delivery, list[DeliveryAttempt]]] = {}
    for d, a in rows:
        _, attempts = found.setdefault(d.id, (d, []))
        if a is not None:
            attempts.append(a)
    return [
        delivery_wire(d, attempts[-MAX_ATTEMPTS_SHOWN:], len(attempts))
        for d, attempts in (found[i] for i in ids if i in found)
    ]


async def get_delivery(session: AsyncSession, sub: Subscription, delivery_id: str) -> Delivery:
    d = await session.get(Delivery, delivery_id)
    if d is None or d.subscription_id != sub.id:
        raise DockyardError(ErrorCode.NO_SUCH_DELIVERY, detail={"id": delivery_id})
    return d


async def delivery_log(session: AsyncSession, sub: Subscription, delivery_id: str) -> DeliveryLog:
    """One delivery of `sub` as it is now, with its attempts, in one statement (see _logs_of);
    after a change in this session (a redelivery), that change flushed first."""
    found = await _logs_of(session, sub, [delivery_id])
    if not found:
        raise DockyardError(ErrorCode.NO_SUCH_DELIVERY, detail={"id": delivery_id})
    return found[0]


async def redeliver_one(
    session: AsyncSession, sub: Subscription, delivery_id: str, now: datetime | None = None
) -> Delivery:
    d = await get_delivery(session, sub, delivery_id)
    now = now or utcnow()
    d.status = "pending"
    d.next_attempt_at = now
    d.lease_token = None
    d.updated_at = now
    # A fresh retry budget: the schedule starts again from the first delay.
    d.attempts = 0
    return d


async def redeliver_bulk(
    session: AsyncSession, sub: Subscription, form: RedeliverRequest, now: datetime | None = None
) -> int:
    now = now or utcnow()
    matches = Delivery.status == form.status
    if form.status == "failed":
        # "Failed" also means still retrying after a failed attempt: waiting out a long retry
        # delay is what a user redelivering after fixing the receiver wants to skip. Deliveries
        # a worker holds right now (leased) are left alone.
        matches = or_(
            matches,
            and_(
                Delivery.status == "pending",
                Delivery.attempts > 0,
                Delivery.lease_token.is_(None),
            ),
        )
    result = await session.execute(
        update(Delivery)
        .where(
            Delivery.subscription_id == sub.id,
            matches,
            Delivery.created_at >= form.since,
        )
        .values(status="pending", next_attempt_at=now, lease_token=None, updated_at=now, attempts=0)
    )
    return int(getattr(result, "rowcount", 0) or 0)
