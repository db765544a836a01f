"""Scan on push: the scanner's outbox consumer, read in batches.

Each step reads the TAG_PUSH events past the scanner's cursor (`events.cursors.read_batch`: the
other event types are passed in SQL, unread), looks up, for the whole batch at once, which of
their repositories scan on push and where their tags point now, loads the payloads of only the
pushes to those repositories, and queues scan jobs for each pushed tag that still points at the
pushed digest. A push to a repository that does not scan on push costs its share of two light
queries. The caller commits (cursor and jobs together). No HTTP here.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.events.cursors import (
    EventRef,
    advance,
    payloads,
    read_batch,
    repository_names,
    tag_of,
)
from dockyard.events.types import EventType
from dockyard.repos.models import Repository, Tag
from dockyard.scanning.service import CONSUMER, PUSH_BATCH, enqueue_tag

_TYPES = (EventType.TAG_PUSH.value,)


async def consume_pushes(session: AsyncSession, *, enabled: bool, limit: int = PUSH_BATCH) -> int:
    """Read TAG_PUSH events past the scanner's cursor; a repository with scanOnPush gets scan
    jobs (none while scanning is disabled: the cursor passes them). Returns how many events
    the cursor passed."""
    batch = await read_batch(session, CONSUMER, _TYPES if enabled else (), limit=limit)
    if batch.events:
        await _scan_pushed(session, batch.events)
    await advance(session, batch)
    return batch.passed


async def _scan_pushed(session: AsyncSession, events: list[EventRef]) -> None:
    namespaces, names = repository_names(events)
    keys = {e.repository_key for e in events}
    repos = {
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
    if not repos:
        return
    wanted = [e.seq for e in events if e.repository_key in repos]
    loaded = await payloads(session, wanted)
    pushes = [p for p in (tag_of(loaded.get(seq)) for seq in wanted) if p and p.digest]
    if not pushes:
        return
    by_id = {repo.id: key for key, repo in repos.items()}
    current = {
        (by_id[repository_id], name): digest
        for repository_id, name, digest in await session.execute(
            select(Tag.repository_id, Tag.name, Tag.digest).where(
                Tag.repository_id.in_(list(by_id)), Tag.name.in_(sorted({p.tag for p in pushes}))
            )
        )
    }
    for p in pushes:
        repo = repos.get(p.repository_key)
        if repo is None or current.get((p.repository_key, p.tag)) != p.digest:
            continue  # moved or deleted since: the later push (if any) has its own event
        await enqueue_tag(session, repo, p.tag, p.digest)
