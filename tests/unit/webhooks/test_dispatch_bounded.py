"""The dispatcher hands a push's deliveries to the sender in a bounded batch: a push to a
repository with more subscriptions than `HANDOFF_LIMIT` hands that many at most, and leaves the
rest due for the claim stage (which it wakes)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from dockyard.accounts.models import Account
from dockyard.clock import utcnow
from dockyard.config import Settings
from dockyard.db.engine import create_engine, create_sessionmaker
from dockyard.db.migrate import upgrade
from dockyard.events.models import OutboxEvent
from dockyard.webhooks.dispatch import HANDOFF_LIMIT, Dispatcher
from dockyard.webhooks.models import Delivery, Subscription


class _Sender:
    """Room for every endpoint; records what it is handed."""

    def __init__(self) -> None:
        self.claim_wake = asyncio.Event()
        self.started: list[Any] = []

    def reserve(self, subscription_id: str, endpoint: str) -> object:
        return object()

    def release(self, reserved: list[Any]) -> None:
        pass

    def start(self, jobs: list[Any], now: datetime) -> int:
        self.started.extend(jobs)
        return len(jobs)


async def _scenario(url: str, subscriptions: int) -> tuple[int, int, int, bool]:
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    try:
        async with sessions() as session:
            session.add(Account(id="a", name="a", is_admin=True))
            for i in range(subscriptions):
                session.add(
                    Subscription(
                        type="TAG_PUSH",
                        event_type="TAG_PUSH",
                        key="ns/repo",
                        endpoint=f"http://example.test/{i}",
                        author_id="a",
                        secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                    )
                )
            session.add(
                OutboxEvent(
                    type="TAG_PUSH",
                    repository_key="ns/repo",
                    namespace_key="ns",
                    payload={"type": "TAG_PUSH", "contents": {}},
                    created_at=utcnow(),
                )
            )
            await session.commit()
        sender = _Sender()
        dispatcher = Dispatcher(Settings(), sessions, sender)  # type: ignore[arg-type]
        events = await dispatcher.step()
        async with sessions() as session:
            due = await session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.lease_token.is_(None))
            )
        return events, len(sender.started), int(due or 0), sender.claim_wake.is_set()
    finally:
        await engine.dispose()


def test_a_push_to_many_subscriptions_is_handed_on_in_a_bounded_batch(database_url: str) -> None:
    upgrade(database_url)
    many = HANDOFF_LIMIT + 40
    events, handed, due, woke = asyncio.run(_scenario(database_url, many))
    assert events == 1
    assert handed == HANDOFF_LIMIT
    # The rest are due at once, for the claim stage, which is woken.
    assert due == many - HANDOFF_LIMIT
    assert woke
