"""Push mirroring: the mirror worker's outbox consumer, read in batches.

Each step (`events.cursors.consume_tags`) reads the TAG_PUSH events past the mirroring cursor
(the other event types are passed in SQL, unread), looks up the enabled push policies of all
their repositories in one query, loads the payloads of only the pushes to repositories that have
one, and queues a job for each policy whose rules hold for the pushed tag. A push to a repository
without a push policy costs its share of one light query. The caller commits (cursor and jobs
together). No HTTP here.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.events.cursors import Concerned, EventRef, consume_tags, repository_names
from dockyard.events.types import EventType
from dockyard.policies.mirror_models import MirroringPolicy
from dockyard.policies.mirror_service import CONSUMER, PUSH, PUSH_BATCH, queue_push
from dockyard.repos.models import Repository

_TYPES = (EventType.TAG_PUSH.value,)

_Policies = tuple[Repository, list[MirroringPolicy]]


async def consume_pushes(session: AsyncSession, limit: int = PUSH_BATCH) -> int:
    """Read TAG_PUSH events past the mirroring cursor; each enabled push policy of the
    repository whose rules hold queues a job. Returns how many events the cursor passed."""
    return await consume_tags(
        session, CONSUMER, _TYPES, limit=limit, relevant=_push_policies, act=_mirror_pushed
    )


async def _push_policies(session: AsyncSession, events: list[EventRef]) -> dict[str, _Policies]:
    namespaces, names = repository_names(events)
    keys = {e.repository_key for e in events}
    policies: dict[str, _Policies] = {}
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
    return policies


async def _mirror_pushed(session: AsyncSession, found: list[Concerned[_Policies]]) -> None:
    for pushed in found:
        if not pushed.tag.digest:
            continue
        repo, repo_policies = pushed.found
        for policy in repo_policies:
            await queue_push(session, repo, policy, pushed.tag.tag, pushed.tag.digest)
