"""Scan on push: the scanner's outbox consumer, read in batches.

Each step (`events.cursors.consume_tags`) reads the TAG_PUSH events past the scanner's cursor
(the other event types are passed in SQL, unread), looks up which of the batch's repositories
scan on push in one query, loads the payloads of only the pushes to those, then reads where
their pushed tags point now and queues scan jobs for each pushed tag that still points at the
pushed digest. A push to a repository that does not scan on push costs its share of two light
queries. The caller commits (cursor and jobs together). No HTTP here.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.events.cursors import Concerned, EventRef, consume_tags, repository_names
from dockyard.events.types import EventType
from dockyard.repos.models import Repository, Tag
from dockyard.scanning.service import CONSUMER, PUSH_BATCH, enqueue_tag

_TYPES = (EventType.TAG_PUSH.value,)


async def consume_pushes(session: AsyncSession, *, enabled: bool, limit: int = PUSH_BATCH) -> int:
    """Read TAG_PUSH events past the scanner's cursor; a repository with scanOnPush gets scan
    jobs (none while scanning is disabled: the cursor passes them). Returns how many events
    the cursor passed."""
    return await consume_tags(
        session,
        CONSUMER,
        _TYPES if enabled else (),
        limit=limit,
        relevant=_scanning_on_push,
        act=_scan_pushed,
    )


async def _scanning_on_push(session: AsyncSession, events: list[EventRef]) -> dict[str, Repository]:
    namespaces, names = repository_names(events)
    keys = {e.repository_key for e in events}
    return {
        repo.full_name: repo
        for repo in await session.scalars(
            select(Repository).where(
                Repository.namespace.in_(namespaces),
                Repository.name.in_(names),
                Repository.scan_on_push.is_(True),
            )
        )
        if repo.full_name in keys
    }


async def _scan_pushed(session: AsyncSession, found: list[Concerned[Repository]]) -> None:
    pushes = [p for p in found if p.tag.digest]
    if not pushes:
        return
    current = {
        (repository_id, name): digest
        for repository_id, name, digest in await session.execute(
            select(Tag.repository_id, Tag.name, Tag.digest).where(
                Tag.repository_id.in_(sorted({p.found.id for p in pushes})),
                Tag.name.in_(sorted({p.tag.tag for p in pushes})),
            )
        )
    }
    for p in pushes:
        if current.get((p.found.id, p.tag.tag)) != p.tag.digest:
            continue  # moved or deleted since: the later push (if any) has its own event
        await enqueue_tag(session, p.found, p.tag.tag, p.tag.digest)
