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
from dockyard.events.cursors import read_past
from dockyard.events.types import EventType
from dockyard.jobs.runner import run_forever
from dockyard.policies.engine import evaluate_tag
from dockyard.repos import service as repos
from dockyard.repos.models import Tag

log = logging.getLogger(__name__)
CONSUMER = "promotion"
BATCH = 100
POLL_INTERVAL = 1.0
# As the scanner's cursor: on PostgreSQL a lower seq may commit after a higher one.
_TYPES = (EventType.TAG_PUSH.value, EventType.SCAN_COMPLETED.value)


async def _on_event(session: AsyncSession, host: str, payload: dict[str, Any]) -> int:
    contents = payload.get("contents") or {}
    namespace, name, tag = (
        contents.get("namespace"),
        contents.get("repository"),
        contents.get("tag"),
    )
    if not all(isinstance(v, str) and v for v in (namespace, name, tag)):
        return 0
    repo = await repos.get_repository(session, str(namespace), str(name))
    if repo is None:
        return 0
    row = await session.scalar(select(Tag).where(Tag.repository_id == repo.id, Tag.name == tag))
    if row is None:
        return 0
    digest = contents.get("digest")
    if isinstance(digest, str) and digest and digest != row.digest:
        return 0  # moved since: the later push has its own event
    return len(await evaluate_tag(session, host, repo, row))


async def consume(session: AsyncSession, host: str, limit: int = BATCH) -> int:
    """Read events past the promotion cursor and promote; returns how many were read. The caller
    commits."""
    cursor, rows = await read_past(session, CONSUMER, limit)
    for seq, type_, payload in rows:
        if type_ not in _TYPES:
            continue
        try:
            async with session.begin_nested():
                await _on_event(session, host, payload)
        except Exception as exc:
            if is_transient(exc):
                raise  # the step rolls back, the cursor stays, the runner retries
            log.exception("promotion.event.failed", extra={"seq": seq})
    if rows:
        cursor.seq = int(rows[-1][0])
    return len(rows)


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
        "promotion", worker.step, wake=subscribe_wakeups(), poll_interval=POLL_INTERVAL
    )
