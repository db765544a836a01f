"""A consumer's step (`events.cursors.consume`, `consume_tags`): the cursor moves only once the
action has returned, so a failing action leaves the events to be read again (at least once);
a tag consumer's action gets only the events about what its lookup found, with their payloads."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dockyard.clock import utcnow
from dockyard.db.engine import create_engine, create_sessionmaker
from dockyard.db.migrate import upgrade
from dockyard.events import cursors
from dockyard.events.models import OutboxCursor, OutboxEvent

CONSUMER = "test"


class Refused(Exception):
    pass


def _event(type_: str, repository: str, tag: str | None = "v1") -> dict[str, Any]:
    contents: dict[str, Any] = {"namespace": "ns", "repository": repository, "digest": "sha256:1"}
    if tag is not None:
        contents["tag"] = tag
    return {
        "type": type_,
        "repository_key": f"ns/{repository}",
        "namespace_key": "ns",
        "actor": "a",
        "payload": {"type": type_, "contents": contents},
        # Long settled: on PostgreSQL a cursor passes only events a few seconds old.
        "created_at": utcnow().replace(year=2000),
    }


async def _add(sessions: async_sessionmaker[AsyncSession], events: list[dict[str, Any]]) -> None:
    async with sessions() as session:
        await session.execute(insert(OutboxEvent), events)
        await session.commit()


async def _seqs(session: AsyncSession) -> list[int]:
    return list(await session.scalars(select(OutboxEvent.seq).order_by(OutboxEvent.seq)))


async def _cursor(session: AsyncSession) -> int | None:
    return await session.scalar(select(OutboxCursor.seq).where(OutboxCursor.consumer == CONSUMER))


def test_the_cursor_does_not_pass_events_whose_action_failed(database_url: str) -> None:
    upgrade(database_url)

    async def go() -> None:
        engine = create_engine(database_url)
        sessions = create_sessionmaker(engine)
        handled: list[list[int]] = []

        async def fail(_session: AsyncSession, events: list[cursors.EventRef]) -> None:
            handled.append([e.seq for e in events])
            raise Refused

        async def succeed(_session: AsyncSession, events: list[cursors.EventRef]) -> None:
            handled.append([e.seq for e in events])

        def step(session: AsyncSession, handle: Any) -> Any:
            return cursors.consume(session, CONSUMER, ("TAG_PUSH",), limit=10, handle=handle)

        try:
            await _add(sessions, [_event("TAG_PUSH", "r", "a"), _event("TAG_PULL", "r", "a")])
            async with sessions() as session:
                assert await step(session, succeed) == 2
                await session.commit()
            async with sessions() as session:
                first = await _seqs(session)
                assert await _cursor(session) == first[-1]
            await _add(sessions, [_event("TAG_PUSH", "r", "b"), _event("TAG_PUSH", "r", "c")])
            async with sessions() as session:
                every = await _seqs(session)
                with pytest.raises(Refused):
                    await step(session, fail)
                # Not even in the step's own transaction: a caller that went on would not
                # commit a cursor past the failed events.
                assert await _cursor(session) == first[-1]
                await session.rollback()
            async with sessions() as session:
                assert await step(session, succeed) == 2
                await session.commit()
            async with sessions() as session:
                assert await _cursor(session) == every[-1]
                # Nothing new: the action is not called, the cursor stays.
                assert await step(session, fail) == 0
                await session.commit()
            async with sessions() as session:
                assert await _cursor(session) == every[-1]
        finally:
            await engine.dispose()
        assert handled == [[first[0]], every[2:], every[2:]]

    asyncio.run(go())


def test_a_tag_consumer_acts_on_the_events_about_what_its_lookup_found(
    database_url: str,
) -> None:
    upgrade(database_url)
    stream = [
        _event("TAG_PUSH", "quiet", "a"),
        _event("TAG_PUSH", "loud", "b"),
        _event("TAG_PULL", "loud", "b"),
        _event("TAG_PUSH", "loud", None),  # a payload without a tag: passed over
        _event("TAG_PUSH", "loud", "d"),
    ]

    async def go() -> tuple[list[int], list[list[str]], list[list[tuple[int, str, str]]]]:
        engine = create_engine(database_url)
        sessions = create_sessionmaker(engine)
        looked_up: list[list[str]] = []
        acted: list[list[tuple[int, str, str]]] = []

        async def relevant(
            _session: AsyncSession, events: list[cursors.EventRef]
        ) -> Mapping[str, str]:
            looked_up.append([str(e.repository_key) for e in events])
            return {"ns/loud": "found loud"}

        async def act(_session: AsyncSession, found: list[cursors.Concerned[str]]) -> None:
            acted.append([(c.seq, c.found, c.tag.tag) for c in found])

        try:
            await _add(sessions, stream)
            for _ in range(2):
                async with sessions() as session:
                    await cursors.consume_tags(
                        session, CONSUMER, ("TAG_PUSH",), limit=10, relevant=relevant, act=act
                    )
                    await session.commit()
            async with sessions() as session:
                seqs = await _seqs(session)
                assert await _cursor(session) == seqs[-1]
        finally:
            await engine.dispose()
        return seqs, looked_up, acted

    seqs, looked_up, acted = asyncio.run(go())
    # The second step found nothing new: neither the lookup nor the action ran.
    assert looked_up == [["ns/quiet", "ns/loud", "ns/loud", "ns/loud"]]
    assert acted == [[(seqs[1], "found loud", "b"), (seqs[4], "found loud", "d")]]


def test_a_tag_consumer_does_not_act_when_its_lookup_found_nothing(database_url: str) -> None:
    upgrade(database_url)

    async def go() -> int:
        engine = create_engine(database_url)
        sessions = create_sessionmaker(engine)

        async def relevant(
            _session: AsyncSession, _events: list[cursors.EventRef]
        ) -> Mapping[str, str]:
            return {}

        async def act(_session: AsyncSession, _found: list[cursors.Concerned[str]]) -> None:
            raise AssertionError("acted on nothing")

        try:
            await _add(sessions, [_event("TAG_PUSH", "quiet", "a")])
            async with sessions() as session:
                passed = await cursors.consume_tags(
                    session, CONSUMER, ("TAG_PUSH",), limit=10, relevant=relevant, act=act
                )
                await session.commit()
        finally:
            await engine.dispose()
        return passed

    assert asyncio.run(go()) == 1
