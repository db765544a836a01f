"""The delivery log reads a delivery and its attempts as of one moment: the record stage may
commit an attempt (and the delivery's next attempt time, in the same transaction) between the
log's statements, and the log must not show the new attempt beside the old lease as the next
attempt time (a retry 600 s away shown as 60 s away). One delivery is read for its own
subscription only."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.clock import utcnow
from dockyard.db.engine import create_engine, create_sessionmaker
from dockyard.db.migrate import upgrade
from dockyard.errors import DockyardError, ErrorCode
from dockyard.webhooks import history
from dockyard.webhooks.delivery import AttemptResult
from dockyard.webhooks.models import Subscription
from dockyard.webhooks.record import Recorder
from tests.unit.webhooks import seeding

LEASE = 60.0
RETRY = 600.0


class _RecordAfterFirstRead:
    """A session whose first statement is followed by `hook` (another transaction)."""

    def __init__(self, inner: AsyncSession, hook: Any) -> None:
        self._inner, self._hook, self._reads = inner, hook, 0

    async def _after(self, result: Any) -> Any:
        self._reads += 1
        if self._reads == 1:
            await self._hook()
        return result

    async def scalars(self, *args: Any, **kwargs: Any) -> Any:
        return await self._after(await self._inner.scalars(*args, **kwargs))

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        return await self._after(await self._inner.execute(*args, **kwargs))

    async def scalar(self, *args: Any, **kwargs: Any) -> Any:
        return await self._after(await self._inner.scalar(*args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


async def _listed_while_recorded(url: str) -> tuple[datetime, Any]:
    db = create_engine(url)
    sessions = create_sessionmaker(db)
    now = utcnow()
    try:
        leased = seeding.delivery(
            "d",
            next_attempt_at=now + timedelta(seconds=LEASE),
            event_created_at=now,
            lease_token="tok",
        )
        await seeding.seed(sessions, "http://receiver.test/hook", [leased])
        recorder = Recorder(sessions, [RETRY])

        async def record_a_503() -> None:
            recorder.add(
                seeding.job("d", "http://receiver.test/hook"),
                AttemptResult(503, None, "", 3.0, "try later"),
                utcnow(),
            )
            assert await recorder.flush()

        async with sessions() as session:
            sub = await session.get(Subscription, "s")
            assert sub is not None
            reading = cast(AsyncSession, _RecordAfterFirstRead(session, record_a_503))
            page, _, _ = await history.list_deliveries(
                reading, sub, status=None, page_start=0, page_size=10, count=False
            )
        return now, page
    finally:
        await db.dispose()


def test_an_attempt_is_listed_with_the_next_attempt_time_it_set(database_url: str) -> None:
    upgrade(database_url)
    now, page = asyncio.run(_listed_while_recorded(database_url))
    [d] = page
    assert d.status == "pending"
    if d.attempts:
        # The attempt is shown: so is the retry it scheduled, not the lease it ended.
        next_at = datetime.fromisoformat(d.nextAttemptAt.replace("Z", "+00:00"))
        assert next_at > now + timedelta(seconds=RETRY / 2)
        assert d.attemptCount == 1 and d.attempts[0].statusCode == 503
    else:
        assert d.attemptCount == 0


async def _one_by_id(url: str) -> tuple[Any, Any]:
    db = create_engine(url)
    sessions = create_sessionmaker(db)
    now = utcnow()
    try:
        d = seeding.delivery("d", next_attempt_at=now, event_created_at=now)
        await seeding.seed(sessions, "http://receiver.test/hook", [d])
        async with sessions() as session:
            sub = await session.get(Subscription, "s")
            assert sub is not None
            own = await history.delivery_log(session, sub, "d")
            other = seeding.subscription("http://receiver.test/other")
            other.id = "t"
            try:
                await history.delivery_log(session, other, "d")
            except DockyardError as exc:
                return own, exc.code
        return own, None
    finally:
        await db.dispose()


def test_one_delivery_is_read_for_its_own_subscription_only(database_url: str) -> None:
    upgrade(database_url)
    own, refused = asyncio.run(_one_by_id(database_url))
    assert own.id == "d" and own.webhookID == "s" and own.attemptCount == 0
    assert refused == ErrorCode.NO_SUCH_DELIVERY
