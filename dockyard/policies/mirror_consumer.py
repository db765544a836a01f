"""Push mirroring: the mirror worker's outbox consumer, read in batches.

Each step reads the TAG_PUSH events past the mirroring cursor (`events.cursors.read_batch`: the
other event types are passed in SQL, unread), looks up the enabled push policies of all their
repositories in one query, loads the payloads of only the pushes to repositories that have one,
and queues a job for each policy whose rules hold for the pushed tag. A push to a repository
without a push policy costs its share of one light query. The caller commits (cursor and jobs
together). No HTTP here.
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
from dockyard.policies.mirror_models import MirroringPolicy
from dockyard.policies.mirror_service import CONSUMER, PUSH, PUSH_BATCH, queue_push
from dockyard.repos.models import Repository

_TYPES = (EventType.TAG_PUSH.value,)


async def consume_pushes(session: AsyncSession, limit: int = PUSH_BATCH) -> int:
    """Read TAG_PUSH events past the mirroring cursor; each enabled push policy of the
    repository whose rules hold queues a job. Returns how many events the cursor passed."""
    batch = await read_batch(session, CONSUMER, _TYPES, limit=limit)
    if batch.events:
        await _mirror_pushed(session, batch.events)
    await advance(session, batch)
    return batch.passed


async def _mirror_pushed(session: AsyncSession, events: list[EventRef]) -> None:
    namespaces, names = repository_names(events)
    keys = {e.repository_key for e in events}
    policies: dict[str, tuple[Repository, list[MirroringPolicy]]] = {}
    rows = await session.execute(
        select(Repository, MirroringPolicy)
        .join(MirroringPolicy, MirroringPolicy.repository_id == Repository.id)
        .where(
            Repository.namespace.in_(namespaces),
            Repository.name.in_(names),
            MirroringPolicy.mirroring_type == PUSH,
            MirroringPolicy.enabled.is_(True),
        )
        .order_by(MirroringPolicy.created_at, MirroringPolicy.id)
    )
    for repo, policy in rows:
        if repo.full_name in keys:
            policies.setdefault(repo.full_name, (repo, []))[1].append(policy)
    if not policies:
        return
    wanted = [e.seq for e in events if e.repository_key in policies]
    loaded = await payloads(session, wanted)
    for seq in wanted:
        pushed = tag_of(loaded.get(seq))
        if pushed is None or not pushed.digest or pushed.repository_key not in policies:
            continue
        repo, repo_policies = policies[pushed.repository_key]
        for policy in repo_policies:
            await queue_push(session, repo, policy, pushed.tag, pushed.digest)
