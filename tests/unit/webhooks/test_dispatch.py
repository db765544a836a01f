"""The dispatcher's hand-off: deliveries it takes for itself are inserted leased (so no one
else claims them until the lease ends) and become claimable again when it ends; the rest are
due at once. And the cross-process wake-up socket."""

from __future__ import annotations

import asyncio
import socket
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Table, select

from dockyard.accounts.models import Account
from dockyard.clock import utcnow
from dockyard.db.engine import create_engine, create_sessionmaker
from dockyard.db.migrate import upgrade
from dockyard.events import bus
from dockyard.events.models import OutboxEvent
from dockyard.jobs.lease import claim
from dockyard.webhooks import wake
from dockyard.webhooks.dispatch import dispatch_batch
from dockyard.webhooks.models import Delivery, Subscription

_DELIVERIES: Table = Delivery.__table__  # type: ignore[assignment]


async def _scenario(url: str) -> None:
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    now = utcnow()
    try:
        async with sessions() as session:
            # The author must still be allowed to subscribe (a registry admin may, anywhere).
            session.add(Account(id="a", name="a", is_admin=True))
            for i in range(3):
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
                    created_at=now,
                )
            )
            await session.commit()
        async with sessions() as session:
            result = await dispatch_batch(
                session, now, lease_token="tok", lease_seconds=60, lease_limit=2
            )
            await session.commit()
        assert (result.events, result.deliveries, len(result.handoffs)) == (1, 3, 2)
        handed = {h.delivery["id"] for h in result.handoffs}
        assert all(h.subscription.endpoint.startswith("http://") for h in result.handoffs)
        assert all(h.payload == {"type": "TAG_PUSH", "contents": {}} for h in result.handoffs)

        async with sessions() as session:
            rows = (await session.execute(select(_DELIVERIES))).all()
            leased = {r.id for r in rows if r.lease_token == "tok"}
            assert leased == handed

            async def claim_at(when: object, lease: float) -> set[str]:
                _, claimed = await claim(
                    session,
                    _DELIVERIES,
                    where=_DELIVERIES.c.status == "pending",
                    due_column="next_attempt_at",
                    token_column="lease_token",
                    now=when,  # type: ignore[arg-type]
                    lease_seconds=lease,
                    limit=10,
                    returning=("id",),
                )
                await session.commit()
                return {r.id for r in claimed}

            # Only the delivery not handed off is due now ...
            assert len(await claim_at(now, 600)) == 1
            # ... the handed-off ones come back when their lease ends (the dispatcher died).
            assert await claim_at(now + timedelta(seconds=61), 600) == handed
    finally:
        await engine.dispose()


def test_handoff_is_leased_and_reclaimable(database_url: str) -> None:
    upgrade(database_url)
    asyncio.run(_scenario(database_url))


def test_wake_socket_sets_the_event(tmp_path: Path) -> None:
    async def go() -> bool:
        event = asyncio.Event()
        sock = wake.listen(tmp_path, event)
        assert sock is not None
        # A second engine for the same data folder listens on the next number; once every
        # number is taken, one more cannot listen (it polls instead).
        second = asyncio.Event()
        others = [wake.listen(tmp_path, second)]
        others += [wake.listen(tmp_path, asyncio.Event()) for _ in range(wake.MAX_LISTENERS - 2)]
        assert all(s is not None for s in others)
        assert wake.listen(tmp_path, asyncio.Event()) is None
        try:
            sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sender.sendto(b"w", wake.wake_address(tmp_path))
            sender.close()
            await asyncio.wait_for(event.wait(), 10)
            assert not second.is_set()
            # A commit's wake-up reaches every engine.
            forwarder = asyncio.create_task(wake.forward_commits(tmp_path))
            await asyncio.sleep(0)
            bus.notify_committed()
            await asyncio.wait_for(second.wait(), 10)
            forwarder.cancel()
            return event.is_set()
        finally:
            for s in (sock, *others):
                wake.close(s)

    assert asyncio.run(go())
