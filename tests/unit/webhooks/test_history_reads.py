"""The delivery log reads a delivery and its attempts as of one moment: the record stage may
commit an attempt (and the delivery's next attempt time, in the same transaction) between the
log's statements, and the log must not show the new attempt beside the old lease as the next
attempt time (a retry 600 s away shown as 60 s away). One delivery is read for its own
subscription only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

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
HOOK = "http://receiver.test/hook"


@asynccontextmanager
async def _seeded(url: str, delivery: Any) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on `url`, whose database holds subscription "s" to HOOK with `delivery`."""
    db = create_engine(url)
    sessions = create_sessionmaker(db)
    try:
        await seeding.seed(sessions, HOOK, [delivery])
        yield sessions
    finally:
        await db.dispose()


async def _subscription(session: AsyncSession) -> Subscription:
    sub = await session.get(Subscription, "s")
    assert sub is not None
    return sub


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
    now = utcnow()
    leased = seeding.delivery(
        "d", next_attempt_at=now + timedelta(seconds=LEASE), event_created_at=now, lease_token="tok"
    )
    async with _seeded(url, leased) as sessions:
        recorder = Recorder(sessions, [RETRY])

        async def record_a_503() -> None:
            recorder.add(
                seeding.job("d", HOOK), AttemptResult(503, None, "", 3.0, "try later"), utcnow()
            )
            assert await recorder.flush()

        async with sessions() as session:
            reading = cast(AsyncSession, _RecordAfterFirstRead(session, record_a_503))
            page, _, _ = await history.list_deliveries(
                reading,
                await _subscription(session),
                status=None,
                page_start=0,
                page_size=10,
                count=False,
            )
        return now, page


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
    now = utcnow()
    own = seeding.delivery("d", next_attempt_at=now, event_created_at=now)
    async with _seeded(url, own) as sessions, sessions() as session:
        found = await history.delivery_log(session, await _subscription(session), "d")
        other = seeding.subscription("http://receiver.test/other")
        other.id = "t"
        try:
            await history.delivery_log(session, other, "d")
        except DockyardError as exc:
            return found, exc.code
    return found, None


def test_one_delivery_is_read_for_its_own_subscription_only(database_url: str) -> None:
    upgrade(database_url)
    own, refused = asyncio.run(_one_by_id(database_url))
    assert own.id == "d" and own.webhookID == "s" and own.attemptCount == 0
    assert refused == ErrorCode.NO_SUCH_DELIVERY
