"""The pruning worker: a task of the delivery process (`dockyard worker`, or the HTTP process when
it runs the workers itself), beside the promotion engine. Each step reads TAG_PUSH events past its
own outbox cursor (`pruning`; webhook retention keeps every event a cursor has not passed) and runs
the enabled pruning policies of each repository pushed to; every DOCKYARD_PRUNING_INTERVAL seconds
it runs them for every repository that has one. The cursor and the deletions (each with its
TAG_DELETE) commit together; one repository's failure is logged and skipped (a savepoint).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dockyard.events import cursors
from dockyard.events.bus import subscribe_wakeups
from dockyard.events.cursors import PACE, EventRef, repository_names
from dockyard.events.types import EventType
from dockyard.jobs.runner import run_forever
from dockyard.policies.pruning_models import PruningPolicy
from dockyard.policies.pruning_service import prune_all, prune_safely
from dockyard.repos.models import Repository

log = logging.getLogger(__name__)
CONSUMER = "pruning"
BATCH = 100
POLL_INTERVAL = 1.0
# The first scheduled run waits at most this long after the worker starts.
FIRST_RUN_SECONDS = 60.0
_TYPES = (EventType.TAG_PUSH.value,)


async def _to_prune(session: AsyncSession, events: list[EventRef]) -> list[Repository]:
    """The repositories pushed to (in push order, each once) that have an enabled pruning
    policy: one query for the batch, no payload read (the event's key names the repository)."""
    namespaces, names = repository_names(events)
    with_policy = select(PruningPolicy.id).where(
        PruningPolicy.repository_id == Repository.id, PruningPolicy.enabled.is_(True)
    )
    found = {
        repo.full_name: repo
        for repo in await session.scalars(
            select(Repository).where(
                Repository.namespace.in_(namespaces),
                Repository.name.in_(names),
                with_policy.exists(),
            )
        )
    }
    pushed = dict.fromkeys(e.repository_key for e in events)
    return [found[key] for key in pushed if key in found]


async def consume(session: AsyncSession, host: str, limit: int = BATCH) -> int:
    """Read TAG_PUSH events past the pruning cursor and prune the repositories pushed to;
    returns how many events the cursor passed. The caller commits."""

    async def prune(session: AsyncSession, events: list[EventRef]) -> None:
        for repo in await _to_prune(session, events):
            await prune_safely(session, host, repo)

    return await cursors.consume(session, CONSUMER, _TYPES, limit=limit, handle=prune)


class PruningWorker:
    def __init__(self, services: Any) -> None:
        self.sessionmaker: async_sessionmaker[AsyncSession] = services.sessionmaker
        self.host: str = services.settings.registry_host
        self.interval = float(services.settings.pruning_interval)
        self.next_run = time.monotonic() + min(self.interval, FIRST_RUN_SECONDS)

    async def step(self) -> int:
        async with self.sessionmaker() as session:
            read = await consume(session, self.host)
            await session.commit()
        if time.monotonic() >= self.next_run:
            self.next_run = time.monotonic() + self.interval
            async with self.sessionmaker() as session:
                deleted = await prune_all(session, self.host)
                await session.commit()
            log.info("pruning.scheduled.done", extra={"deleted": deleted})
        return read


async def run_pruning_worker(services: Any, role: str = "worker") -> None:
    """The pruning worker until cancelled."""
    worker = PruningWorker(services)
    log.info("pruning.worker.started", extra={"role": role})
    await run_forever(
        "pruning",
        worker.step,
        wake=subscribe_wakeups(),
        poll_interval=POLL_INTERVAL,
        pace=PACE,
    )
