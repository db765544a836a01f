"""What the outbox consumers (scan on push, push mirroring, promotion, pruning) read: past their
cursor, the events of their types only; the cursor passes the others too; an event about a
repository with nothing configured costs no payload read and no statement of its own; payloads
are read for the events that concern something only."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from dockyard.accounts.models import Account
from dockyard.clock import utcnow
from dockyard.db.engine import create_engine, create_sessionmaker
from dockyard.db.migrate import upgrade
from dockyard.events import cursors
from dockyard.events.models import OutboxCursor, OutboxEvent
from dockyard.policies import pruning_worker
from dockyard.policies import worker as promotion
from dockyard.policies.mirror_consumer import consume_pushes as mirror_pushes
from dockyard.repos.models import Repository
from dockyard.scanning.push_consumer import consume_pushes as scan_pushes

Consume = Callable[[AsyncSession], Awaitable[int]]
CONSUMERS: dict[str, Consume] = {
    "scanning": lambda s: scan_pushes(s, enabled=True),
    "mirroring": mirror_pushes,
    "promotion": lambda s: promotion.consume(s, "registry.test"),
    "pruning": lambda s: pruning_worker.consume(s, "registry.test"),
}


def _event(type_: str, repository: str, tag: str = "v1") -> dict[str, Any]:
    at = utcnow().replace(year=2000)  # long settled (PostgreSQL's cursors wait a few seconds)
    contents = {"namespace": "ns", "repository": repository, "tag": tag, "digest": "sha256:1"}
    return {
        "type": type_,
        "repository_key": f"ns/{repository}",
        "namespace_key": "ns",
        "actor": "a",
        "payload": {"type": type_, "contents": contents},
        "created_at": at,
    }


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, sql: str, params: Any, _ctx: Any, _many: bool) -> None:
        seen.append((" ".join(sql.split()), params))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


def _reads_payload(sql: str) -> bool:
    return sql.startswith("SELECT") and "payload" in sql


async def _setup(url: str, events: list[dict[str, Any]]) -> tuple[AsyncEngine, list[int]]:
    engine = create_engine(url)
    async with create_sessionmaker(engine)() as session:
        session.add(Account(id="a", name="ns"))
        # "quiet" has nothing configured; "loud" scans on push (the default).
        session.add(
            Repository(id="q", namespace_id="a", namespace="ns", name="quiet", scan_on_push=False)
        )
        session.add(Repository(id="l", namespace_id="a", namespace="ns", name="loud"))
        await session.flush()
        await session.execute(insert(OutboxEvent), events)
        seqs = list(await session.scalars(select(OutboxEvent.seq).order_by(OutboxEvent.seq)))
        await session.commit()
    return engine, seqs


def test_events_about_nothing_cost_no_payload_read_and_no_statement_each(
    database_url: str,
) -> None:
    upgrade(database_url)
    stream = [
        _event(t, "quiet", f"t{i}")
        for i in range(90)
        for t in ("TAG_PULL", "TAG_PUSH", "MANIFEST_PULL")
    ]

    async def go() -> dict[str, tuple[int, list[str]]]:
        engine, seqs = await _setup(database_url, stream)
        sessions = create_sessionmaker(engine)
        found: dict[str, tuple[int, list[str]]] = {}
        try:
            for name, consume in CONSUMERS.items():
                with statements(engine) as seen:
                    async with sessions() as session:
                        # Wider than the cursor's batch of wanted events: the types filter
                        # is in SQL, so the ignored events do not count against it.
                        assert await consume(session) == len(stream)
                        await session.commit()
                async with sessions() as session:
                    cursor = await session.get(OutboxCursor, name)
                    assert cursor is not None and cursor.seq == seqs[-1], name
                found[name] = (len(seen), [sql for sql, _ in seen])
        finally:
            await engine.dispose()
        return found

    for name, (count, sqls) in asyncio.run(go()).items():
        assert not any(_reads_payload(sql) for sql in sqls), (name, sqls)
        # The cursor, the window's end, the wanted events, one repository lookup, the advance
        # (and the session's BEGIN/COMMIT where the driver reports them).
        assert count <= 7, (name, sqls)


def test_payloads_are_read_for_the_events_that_concern_something_only(
    database_url: str,
) -> None:
    upgrade(database_url)
    stream = [
        _event("TAG_PUSH", "quiet", "a"),
        _event("TAG_PUSH", "loud", "b"),
        _event("TAG_PULL", "loud", "b"),
        _event("TAG_PUSH", "quiet", "c"),
        _event("TAG_PUSH", "loud", "d"),
    ]

    async def go() -> tuple[list[int], list[Any]]:
        engine, seqs = await _setup(database_url, stream)
        try:
            with statements(engine) as seen:
                async with create_sessionmaker(engine)() as session:
                    await scan_pushes(session, enabled=True)
                    await session.commit()
        finally:
            await engine.dispose()
        return seqs, [params for sql, params in seen if _reads_payload(sql)]

    seqs, reads = asyncio.run(go())
    assert len(reads) == 1
    assert sorted(reads[0]) == [seqs[1], seqs[4]]  # the pushes to "loud"


@pytest.mark.parametrize(
    ("limit", "window", "expected"),
    [
        # Full after two pushes: the cursor stops at the second; then passes the trailing pull.
        (2, 100, [(2, [0, 2]), (5, [4]), (5, [])]),
        # The window's end comes first: the cursor passes the pulls in it, unread.
        (100, 2, [(1, [0]), (3, [2]), (5, [4])]),
    ],
)
def test_a_batch_ends_at_its_last_wanted_event_or_at_the_window(
    database_url: str, limit: int, window: int, expected: list[tuple[int, list[int]]]
) -> None:
    upgrade(database_url)
    stream = [_event(t, "quiet") for t in ("TAG_PUSH", "TAG_PULL") * 3]

    async def go() -> list[tuple[int, list[int]]]:
        engine, seqs = await _setup(database_url, stream)
        sessions = create_sessionmaker(engine)
        reads: list[tuple[int, list[int]]] = []
        try:
            for _ in expected:
                async with sessions() as session:
                    # A consumer with no cursor row yet starts at the outbox's beginning.
                    batch = await cursors.read_batch(
                        session, "test", ("TAG_PUSH",), limit=limit, window=window
                    )
                    await cursors.advance(session, batch)
                    await session.commit()
                reads.append((seqs.index(batch.end), [seqs.index(e.seq) for e in batch.events]))
        finally:
            await engine.dispose()
        return reads

    assert asyncio.run(go()) == expected
