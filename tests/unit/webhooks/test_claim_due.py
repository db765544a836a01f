"""The claim stage's lease: due deliveries are taken once, in due order, up to the limit; one
that is no longer due (leased by another worker) is never taken again, on SQLite (a read, then
an UPDATE by id that checks again) as on PostgreSQL (SKIP LOCKED)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import update

from dockyard.clock import utcnow
from dockyard.db.engine import create_engine, create_sessionmaker
from dockyard.db.migrate import upgrade
from dockyard.webhooks import claim as claim_stage
from dockyard.webhooks.claim import claim_due
from dockyard.webhooks.models import Delivery
from tests.unit.webhooks.seeding import delivery, seed

PENDING = Delivery.__table__.c.status == "pending"  # type: ignore[attr-defined]


async def _scenario(url: str) -> None:
    db = create_engine(url)
    sessions = create_sessionmaker(db)
    now = utcnow()
    try:
        await seed(
            sessions,
            "http://hook.test/",
            (
                delivery(
                    f"d{n}", next_attempt_at=now - timedelta(seconds=10 - n), event_created_at=now
                )
                for n in range(5)
            ),
        )

        async with sessions() as session:
            _token, rows, full = await claim_due(session, PENDING, now, 60, 3)
            await session.commit()
        # The three most overdue, and the limit was reached.
        assert sorted(r.id for r in rows) == ["d0", "d1", "d2"] and full
        async with sessions() as session:
            _, rest, full = await claim_due(session, PENDING, now, 60, 3)
            await session.commit()
        assert sorted(r.id for r in rest) == ["d3", "d4"] and not full
        async with sessions() as session:
            _, none, _ = await claim_due(session, PENDING, now, 60, 3)
            await session.commit()
        assert list(none) == []

        # Due again (a lease ended); another worker leases d0 between this claim's read and
        # its update (simulated: the read is wrapped): d0 is not taken twice.
        async with sessions() as session:
            await session.execute(
                update(Delivery).values(next_attempt_at=now - timedelta(seconds=1))
            )
            await session.commit()
        real_scalars = claim_stage.AsyncSession.scalars
        raced: list[bool] = []

        async def other_worker_leases_d0() -> None:
            raced.append(True)
            async with sessions() as other:
                await other.execute(
                    update(Delivery)
                    .where(Delivery.id == "d0")
                    .values(next_attempt_at=now + timedelta(seconds=60), lease_token="x")
                )
                await other.commit()

        async def read_then_race(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            found = await real_scalars(self, *args, **kwargs)
            if not raced:
                await other_worker_leases_d0()
            return found

        if db.dialect.name != "sqlite":
            # One statement there (SKIP LOCKED): the other worker's lease comes first.
            await other_worker_leases_d0()

        claim_stage.AsyncSession.scalars = read_then_race  # type: ignore[method-assign]
        try:
            async with sessions() as session:
                _, again, _ = await claim_due(session, PENDING, now, 60, 5)
                await session.commit()
        finally:
            claim_stage.AsyncSession.scalars = real_scalars  # type: ignore[method-assign]
        taken = sorted(r.id for r in again)
        assert raced
        assert "d0" not in taken
        assert taken == ["d1", "d2", "d3", "d4"]
    finally:
        await db.dispose()


def test_due_deliveries_are_leased_once(database_url: str) -> None:
    upgrade(database_url)
    asyncio.run(_scenario(database_url))
