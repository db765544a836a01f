"""The promotion engine's consumer: a task of the delivery process (`dockyard worker`, or the
HTTP process when it runs the workers itself). Each step reads TAG_PUSH and SCAN_COMPLETED events
past its own outbox cursor (`promotion`; webhook retention keeps every event a cursor has not
passed) and applies the source repository's enabled promotion policies to the tag. The cursor and
the promotions (copies, the target's TAG_PUSH, one PROMOTION each) commit together; one event's
failure is logged and skipped (a savepoint), not retried forever, unless the failure is a
transient database one (a locked SQLite, a deadlock): then the step rolls back and runs again.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dockyard.db.transient import is_transient
from dockyard.events.bus import subscribe_wakeups
from dockyard.events.cursors import PACE, Concerned, EventRef, TagOf, consume_tags, repository_names
from dockyard.events.types import EventType
from dockyard.jobs.runner import run_forever
from dockyard.policies.engine import evaluate_tag
from dockyard.policies.models import PromotionPolicy
from dockyard.repos.models import Repository, Tag

log = logging.getLogger(__name__)
CONSUMER = "promotion"
BATCH = 100
POLL_INTERVAL = 1.0
# As the scanner's cursor: on PostgreSQL a lower seq may commit after a higher one.
_TYPES = (EventType.TAG_PUSH.value, EventType.SCAN_COMPLETED.value)


async def _sources(session: AsyncSession, events: list[EventRef]) -> dict[str, Repository]:
    """The events' repositories that are the source of an enabled promotion policy, by
    "ns/repo": one query for the batch."""
    namespaces, names = repository_names(events)
    keys = {e.repository_key for e in events}
    with_policy = select(PromotionPolicy.id).where(
        PromotionPolicy.source_repository_id == Repository.id,
        PromotionPolicy.enabled.is_(True),
    )
    repos = await session.scalars(
        select(Repository).where(
            Repository.namespace.in_(namespaces),
            Repository.name.in_(names),
            with_policy.exists(),
        )
    )
    return {repo.full_name: repo for repo in repos if repo.full_name in keys}


async def _on_event(session: AsyncSession, host: str, repo: Repository, event: TagOf) -> int:
    row = await session.scalar(
        select(Tag).where(Tag.repository_id == repo.id, Tag.name == event.tag)
    )
    if row is None:
        return 0
    if event.digest and event.digest != row.digest:
        return 0  # moved since: the later push has its own event
    return len(await evaluate_tag(session, host, repo, row))


async def consume(session: AsyncSession, host: str, limit: int = BATCH) -> int:
    """Read events past the promotion cursor and promote; returns how many events the cursor
    passed. The caller commits."""

    async def promote(session: AsyncSession, found: list[Concerned[Repository]]) -> None:
        for event in found:
            try:
                async with session.begin_nested():
                    await _on_event(session, host, event.found, event.tag)
            except Exception as exc:
                if is_transient(exc):
                    raise  # the step rolls back, the cursor stays, the runner retries
                log.exception("promotion.event.failed", extra={"seq": event.seq})

    return await consume_tags(
        session, CONSUMER, _TYPES, limit=limit, relevant=_sources, act=promote
    )


class PromotionWorker:
    def __init__(self, services: Any) -> None:
        self.sessionmaker: async_sessionmaker[AsyncSession] = services.sessionmaker
        self.host: str = services.settings.registry_host

    async def step(self) -> int:
        async with self.sessionmaker() as session:
            read = await consume(session, self.host)
            await session.commit()
        return read


async def run_promotion_worker(services: Any, role: str = "worker") -> None:
    """The promotion engine until cancelled."""
    worker = PromotionWorker(services)
    log.info("promotion.worker.started", extra={"role": role})
    await run_forever(
        "promotion",
        worker.step,
        wake=subscribe_wakeups(),
        poll_interval=POLL_INTERVAL,
        pace=PACE,
    )
