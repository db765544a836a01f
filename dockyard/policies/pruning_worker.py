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

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dockyard.events.bus import subscribe_wakeups
from dockyard.events.cursors import read_past
from dockyard.events.types import EventType
from dockyard.jobs.runner import run_forever
from dockyard.policies.pruning_service import prune_all, prune_safely
from dockyard.repos import service as repos

log = logging.getLogger(__name__)
CONSUMER = "pruning"
BATCH = 100
POLL_INTERVAL = 1.0
# The first scheduled run waits at most this long after the worker starts.
FIRST_RUN_SECONDS = 60.0


def _pushed_repositories(rows: list[tuple[int, str, Any]]) -> list[tuple[str, str]]:
    """(namespace, name) of the repositories pushed to, in order, each once."""
    seen: dict[tuple[str, str], None] = {}
    for _seq, type_, payload in rows:
        if type_ != EventType.TAG_PUSH.value:
            continue
        contents = (payload or {}).get("contents") or {}
        namespace, name = contents.get("namespace"), contents.get("repository")
        if isinstance(namespace, str) and isinstance(name, str) and namespace and name:
            seen[(namespace, name)] = None
    return list(seen)


async def consume(session: AsyncSession, host: str, limit: int = BATCH) -> int:
    """Read events past the pruning cursor and prune the repositories pushed to; returns how
    many events were read. The caller commits."""
    cursor, rows = await read_past(session, CONSUMER, limit)
    for namespace, name in _pushed_repositories(rows):
        repo = await repos.get_repository(session, namespace, name)
        if repo is not None:
            await prune_safely(session, host, repo)
    if rows:
        cursor.seq = int(rows[-1][0])
    return len(rows)


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
    await run_forever("pruning", worker.step, wake=subscribe_wakeups(), poll_interval=POLL_INTERVAL)
