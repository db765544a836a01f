"""The rows and jobs the delivery engine's stage tests start from: one TAG_PUSH subscription
("s" on ns/repo), deliveries of it, and the `Job` a claim hands the sender.

Each test still says what differs (ids, due times, leases, statuses); only the columns that
no assertion reads are filled in here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dockyard.clock import utcnow
from dockyard.webhooks.job import Job
from dockyard.webhooks.models import Delivery, Subscription

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def subscription(endpoint: str) -> Subscription:
    """Subscription "s": TAG_PUSH on ns/repo, sent to `endpoint`."""
    return Subscription(
        id="s",
        type="TAG_PUSH",
        event_type="TAG_PUSH",
        key="ns/repo",
        endpoint=endpoint,
        author_id="a",
        secret=SECRET,
    )


def delivery(
    delivery_id: str,
    *,
    next_attempt_at: datetime,
    event_created_at: datetime,
    event_seq: int = 1,
    event_id: str = "e",
    status: str = "pending",
    **columns: Any,
) -> Delivery:
    """A delivery of subscription "s" (`columns`: the lease, attempts, timestamps)."""
    return Delivery(
        id=delivery_id,
        subscription_id="s",
        event_seq=event_seq,
        event_id=event_id,
        event_type="TAG_PUSH",
        event_created_at=event_created_at,
        status=status,
        next_attempt_at=next_attempt_at,
        **columns,
    )


async def seed(
    sessions: async_sessionmaker[AsyncSession], endpoint: str, deliveries: Iterable[Delivery]
) -> None:
    """Subscription "s" to `endpoint` and `deliveries` of it, committed."""
    async with sessions() as session:
        session.add(subscription(endpoint))
        # The deliveries' foreign key needs the subscription's row first.
        await session.flush()
        session.add_all(list(deliveries))
        await session.commit()


def job(delivery_id: str, endpoint: str, subscription_id: str = "s", token: str = "tok") -> Job:
    """A claimed delivery as the sender takes it: never attempted, an empty JSON body."""
    return Job(
        delivery_id=delivery_id,
        token=token,
        attempts=0,
        event_created_at=utcnow(),
        subscription_id=subscription_id,
        endpoint=endpoint,
        tls_cert="",
        skip_tls_verification=False,
        body=b"{}",
        headers={},
    )
