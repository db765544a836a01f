"""What the dispatcher reads: a batch of events is claimed (marked dispatched) in one statement
that returns no payload; the payloads are read, once, for the events some subscription hears;
an event nobody hears (a pull, a push to a repository without subscriptions) is never decoded
and costs no statement of its own."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event, func, insert, select

from dockyard.accounts.models import Account
from dockyard.clock import utcnow
from dockyard.db.engine import create_engine, create_sessionmaker
from dockyard.db.migrate import upgrade
from dockyard.events.models import OutboxEvent
from dockyard.webhooks.dispatch import dispatch_batch
from dockyard.webhooks.models import Delivery, Subscription


def _event(type_: str, repository: str) -> dict[str, Any]:
    contents = {"namespace": "ns", "repository": repository, "tag": "v1"}
    return {
        "type": type_,
        "repository_key": f"ns/{repository}",
        "namespace_key": "ns",
        "actor": "a",
        "payload": {"type": type_, "contents": contents},
        "created_at": utcnow(),
    }


def test_only_heard_events_are_read_whole(database_url: str) -> None:
    upgrade(database_url)
    stream = [_event("TAG_PULL", "loud") for _ in range(200)]
    stream[50] = _event("TAG_PUSH", "loud")
    stream[120] = _event("TAG_PUSH", "quiet")
    stream[150] = _event("TAG_PUSH", "loud")

    async def go() -> tuple[list[int], list[tuple[str, Any]], int, int, int]:
        engine = create_engine(database_url)
        sessions = create_sessionmaker(engine)
        seen: list[tuple[str, Any]] = []

        def record(_c: Any, _cur: Any, sql: str, params: Any, _ctx: Any, _many: bool) -> None:
            seen.append((" ".join(sql.split()), params))

        try:
            async with sessions() as session:
                session.add(Account(id="a", name="a", is_admin=True))
                session.add(
                    Subscription(
                        type="TAG_PUSH",
                        event_type="TAG_PUSH",
                        key="ns/loud",
                        endpoint="http://example.test/",
                        author_id="a",
                        secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                    )
                )
                await session.execute(insert(OutboxEvent), stream)
                seqs = list(await session.scalars(select(OutboxEvent.seq).order_by("seq")))
                await session.commit()
            event.listen(engine.sync_engine, "before_cursor_execute", record)
            async with sessions() as session:
                result = await dispatch_batch(session, utcnow())
                await session.commit()
            event.remove(engine.sync_engine, "before_cursor_execute", record)
            async with sessions() as session:
                pending = await session.scalar(
                    select(func.count()).where(OutboxEvent.dispatched_at.is_(None))
                )
                delivered = list(await session.scalars(select(Delivery.event_seq)))
        finally:
            await engine.dispose()
        assert pending == 0
        assert sorted(delivered) == [seqs[50], seqs[150]]
        return seqs, seen, result.events, result.deliveries, len(seen)

    seqs, seen, events, deliveries, count = asyncio.run(go())
    assert (events, deliveries) == (200, 2)
    payload_reads = [p for sql, p in seen if "payload" in sql and not sql.startswith("INSERT")]
    # The claim returns no payload; one read for the two heard pushes (not the quiet one).
    assert len(payload_reads) == 1
    assert sorted(p for p in payload_reads[0] if isinstance(p, int)) == [seqs[50], seqs[150]]
    # Claim, subscriptions, the author's access, the heard events, the deliveries (and the
    # session's BEGIN/COMMIT where the driver reports them): none per unheard event.
    assert count <= 12, [sql for sql, _ in seen]


def _subscribed(session: Any) -> None:
    session.add(Account(id="a", name="a", is_admin=True))
    for i in range(3):
        session.add(
            Subscription(
                type="TAG_PUSH",
                event_type="TAG_PUSH",
                key="ns/loud",
                endpoint=f"http://example.test/{i}",
                author_id="a",
                secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            )
        )


def test_reads_come_before_the_first_write(database_url: str) -> None:
    """On SQLite the first write takes the database's write lock until the commit: every read
    and the building of the rows happen before it."""
    upgrade(database_url)

    async def go() -> list[str]:
        engine = create_engine(database_url)
        sessions = create_sessionmaker(engine)
        seen: list[str] = []

        def record(_c: Any, _cur: Any, sql: str, _p: Any, _ctx: Any, _many: bool) -> None:
            seen.append(sql.split()[0].upper())

        try:
            async with sessions() as session:
                _subscribed(session)
                await session.execute(insert(OutboxEvent), [_event("TAG_PUSH", "loud")] * 2)
                await session.commit()
            event.listen(engine.sync_engine, "before_cursor_execute", record)
            async with sessions() as session:
                result = await dispatch_batch(session, utcnow(), lease_token="t", lease_limit=2)
                await session.commit()
            assert (result.events, result.deliveries, len(result.handoffs)) == (2, 6, 2)
        finally:
            await engine.dispose()
        return [kind for kind in seen if kind in ("SELECT", "INSERT", "UPDATE", "DELETE")]

    kinds = asyncio.run(go())
    first_write = min(i for i, k in enumerate(kinds) if k != "SELECT")
    assert "SELECT" not in kinds[first_write:], kinds
    assert kinds[first_write:] == ["INSERT", "UPDATE"]


def test_an_event_marked_by_another_dispatcher_meanwhile_keeps_no_rows(
    database_url: str, monkeypatch: Any
) -> None:
    upgrade(database_url)
    from dockyard.webhooks import dispatch

    async def go() -> tuple[int, int, int, list[int], int]:
        engine = create_engine(database_url)
        sessions = create_sessionmaker(engine)
        try:
            async with sessions() as session:
                _subscribed(session)
                await session.execute(insert(OutboxEvent), [_event("TAG_PUSH", "loud")] * 2)
                seqs = list(await session.scalars(select(OutboxEvent.seq).order_by("seq")))
                await session.commit()
            real_load = dispatch._load

            async def load_then_race(session: Any, wanted: list[int]) -> list[Any]:
                # Another dispatcher marks the first event between this one's read and write.
                await session.execute(
                    OutboxEvent.__table__.update()  # type: ignore[attr-defined]
                    .where(OutboxEvent.seq == seqs[0])
                    .values(dispatched_at=utcnow())
                )
                return await real_load(session, wanted)

            monkeypatch.setattr(dispatch, "_load", load_then_race)
            async with sessions() as session:
                result = await dispatch_batch(session, utcnow(), lease_token="t", lease_limit=10)
                await session.commit()
            async with sessions() as session:
                delivered = list(await session.scalars(select(Delivery.event_seq)))
        finally:
            await engine.dispose()
        handed = {h.delivery["event_seq"] for h in result.handoffs}
        assert handed == {seqs[1]}
        return result.events, result.deliveries, len(result.handoffs), delivered, seqs[1]

    events, deliveries, handoffs, delivered, second = asyncio.run(go())
    assert (events, deliveries, handoffs) == (1, 3, 3)
    assert delivered == [second] * 3
