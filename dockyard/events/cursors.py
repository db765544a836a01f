"""Outbox consumers other than the webhook dispatcher (scan on push, promotion, mirroring,
pruning) read the outbox past a cursor of their own; this is that read, written once.

`read_batch` is the consumers' read: an event of a type the consumer ignores costs no payload
decode and no ORM object (the type filter is in SQL; the cursor still passes it), and the
events it does want come as light references (seq, type, repository key) so the consumer can
look their repositories up for the whole batch at once and load the payloads (`payloads`) of
only the events that concern something. `advance` moves the cursor, in the caller's
transaction.

`consume` is one step of a consumer (read, handle, advance) and `consume_tags` the step of one
that acts on tag events: its lookup of the batch's repositories, then the payloads of only the
events about what the lookup found, then its action. A consumer brings only its types, its
lookup and its action.

No HTTP here. The caller commits, the cursor's advance with its work.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Table, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.clock import utcnow
from dockyard.events.models import OutboxCursor, OutboxEvent

# On PostgreSQL a `seq` is handed out at insert, so a lower one may commit after a higher one:
# a cursor only passes events this old, so it never skips a late commit.
SETTLE = timedelta(seconds=5)
# How many events (of any type) one read may pass. Those of ignored types cost only their
# share of one two-column aggregate, so the window is much wider than a batch of wanted ones.
WINDOW = 2000
# The least time between two reads of one consumer (`jobs.runner.run_forever`'s pace): every
# commit that records an event wakes every consumer; a stream of pulls would otherwise make each
# run a step per commit. Scan on push, promotion, mirroring and pruning start at most this late.
PACE = 0.25

_OUTBOX: Table = OutboxEvent.__table__  # type: ignore[assignment]
_CURSORS: Table = OutboxCursor.__table__  # type: ignore[assignment]

F = TypeVar("F")


@dataclass(frozen=True)
class EventRef:
    """An event a consumer wants, without its payload."""

    seq: int
    type: str
    repository_key: str | None


@dataclass(frozen=True)
class Batch:
    """One read past a consumer's cursor: the wanted events in seq order, and where the cursor
    goes once they are handled (past the ignored events too)."""

    consumer: str
    start: int | None  # the cursor before; None when the consumer has no cursor row yet
    end: int
    passed: int  # events of any type the cursor passes (0: nothing new)
    events: list[EventRef]


def _settled(session: AsyncSession) -> list[ColumnElement[bool]]:
    if session.get_bind().dialect.name == "postgresql":
        return [_OUTBOX.c.created_at <= utcnow() - SETTLE]
    return []


async def read_batch(
    session: AsyncSession,
    consumer: str,
    types: Collection[str],
    *,
    limit: int,
    window: int = WINDOW,
) -> Batch:
    """Up to `limit` events of `types` past the consumer's cursor, among the next `window`
    events. Three light queries at most (the cursor, the window's end, the wanted events)."""
    start = (
        await session.execute(select(_CURSORS.c.seq).where(_CURSORS.c.consumer == consumer))
    ).scalar_one_or_none()
    after = int(start or 0)
    settled = _settled(session)
    span = (
        select(_OUTBOX.c.seq)
        .where(_OUTBOX.c.seq > after, *settled)
        .order_by(_OUTBOX.c.seq)
        .limit(window)
        .subquery()
    )
    bound, passed = (await session.execute(select(func.max(span.c.seq), func.count()))).one()
    if not passed:
        return Batch(consumer, start, after, 0, [])
    bound = int(bound)
    events: list[EventRef] = []
    if types:
        rows = await session.execute(
            select(_OUTBOX.c.seq, _OUTBOX.c.type, _OUTBOX.c.repository_key)
            .where(
                _OUTBOX.c.seq > after,
                _OUTBOX.c.seq <= bound,
                _OUTBOX.c.type.in_(list(types)),
                *settled,
            )
            .order_by(_OUTBOX.c.seq)
            .limit(limit)
        )
        events = [EventRef(int(seq), str(type_), key) for seq, type_, key in rows]
    if len(events) == limit:
        # The batch is full before the window's end: the rest of the window is read next time.
        return Batch(consumer, start, events[-1].seq, len(events), events)
    return Batch(consumer, start, bound, int(passed), events)


async def payloads(session: AsyncSession, seqs: Iterable[int]) -> dict[int, Any]:
    """The payloads of these events, by seq (decoded only for these)."""
    wanted = sorted(set(seqs))
    if not wanted:
        return {}
    rows = await session.execute(
        select(_OUTBOX.c.seq, _OUTBOX.c.payload).where(_OUTBOX.c.seq.in_(wanted))
    )
    return {int(seq): payload for seq, payload in rows}


async def advance(session: AsyncSession, batch: Batch) -> None:
    """Move the consumer's cursor past the batch, in the caller's transaction."""
    if batch.start is None:
        await session.execute(insert(_CURSORS).values(consumer=batch.consumer, seq=batch.end))
    elif batch.end != batch.start:
        await session.execute(
            update(_CURSORS).where(_CURSORS.c.consumer == batch.consumer).values(seq=batch.end)
        )


def repository_names(events: Iterable[EventRef]) -> tuple[set[str], set[str]]:
    """The namespaces and the names of the events' repositories ("ns/repo" keys), for one
    `namespace IN (...) AND name IN (...)` lookup of the batch; the caller keeps the rows whose
    full name is one of the keys."""
    namespaces: set[str] = set()
    names: set[str] = set()
    for e in events:
        if e.repository_key and "/" in e.repository_key:
            namespace, name = e.repository_key.split("/", 1)
            namespaces.add(namespace)
            names.add(name)
    return namespaces, names


@dataclass(frozen=True)
class TagOf:
    """The repository ("ns/repo"), tag and digest ("" when absent) an event's payload names."""

    repository_key: str
    tag: str
    digest: str


def tag_of(payload: Any) -> TagOf | None:
    """What a tag event (TAG_PUSH, SCAN_COMPLETED, ...) is about; None when its contents lack
    the namespace, the repository or the tag."""
    contents = (payload or {}).get("contents") if isinstance(payload, dict) else None
    if not isinstance(contents, dict):
        return None
    namespace, name = contents.get("namespace"), contents.get("repository")
    tag = contents.get("tag")
    if not all(isinstance(v, str) and v for v in (namespace, name, tag)):
        return None
    digest = contents.get("digest")
    return TagOf(f"{namespace}/{name}", str(tag), digest if isinstance(digest, str) else "")


@dataclass(frozen=True)
class Concerned(Generic[F]):
    """A wanted event about something the consumer's lookup found: what it found for the
    repository, and what the event's payload names."""

    seq: int
    found: F
    tag: TagOf


async def consume(
    session: AsyncSession,
    consumer: str,
    types: Collection[str],
    *,
    limit: int,
    handle: Callable[[AsyncSession, list[EventRef]], Awaitable[object]],
) -> int:
    """One step of a consumer: read a batch past its cursor, `handle` its wanted events (not
    called when there are none), advance the cursor. Returns how many events the cursor passed.
    The advance comes only after `handle` returned, in the caller's transaction: when `handle`
    raises, the caller rolls back and the next step reads the same events again."""
    batch = await read_batch(session, consumer, types, limit=limit)
    if batch.events:
        await handle(session, batch.events)
    await advance(session, batch)
    return batch.passed


async def consume_tags(
    session: AsyncSession,
    consumer: str,
    types: Collection[str],
    *,
    limit: int,
    relevant: Callable[[AsyncSession, list[EventRef]], Awaitable[Mapping[str, F]]],
    act: Callable[[AsyncSession, list[Concerned[F]]], Awaitable[object]],
) -> int:
    """`consume` for a consumer of tag events. `relevant` looks the batch's repositories up at
    once and returns what it found by "ns/repo" (the repositories with nothing configured left
    out); only the events about those have their payloads read, and `act` gets them in seq order,
    each with what was found for the repository its payload names (an event whose payload lacks
    a tag, or names a repository not found, is passed over). `act` is not called for nothing."""

    async def handle(session: AsyncSession, events: list[EventRef]) -> None:
        found = await relevant(session, events)
        if not found:
            return
        wanted = [e.seq for e in events if e.repository_key in found]
        loaded = await payloads(session, wanted)
        concerned: list[Concerned[F]] = []
        for seq in wanted:
            tag = tag_of(loaded.get(seq))
            if tag is not None and tag.repository_key in found:
                concerned.append(Concerned(seq, found[tag.repository_key], tag))
        if concerned:
            await act(session, concerned)

    return await consume(session, consumer, types, limit=limit, handle=handle)
