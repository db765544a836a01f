"""Group commit for the pull path: MANIFEST_PULL/TAG_PULL outbox rows and pull counters.

Every manifest GET writes (the events are a product promise), and on SQLite every write takes
the one database write lock. So concurrent pulls of a worker process hand their rows to this
recorder, which writes everything pending in ONE transaction (counters summed per repository)
and only then resolves each waiter: a pull is answered after its events are committed, as
before, so a crash loses no event that a client saw succeed. While one batch commits the next
one gathers, so the batch size follows the load without any timer.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any, cast

from fastapi import Request
from sqlalchemy import Table, update
from sqlalchemy.ext.asyncio import AsyncEngine

from dockyard.db.base import new_uuid
from dockyard.events.bus import notify_committed
from dockyard.events.models import OutboxEvent
from dockyard.events.types import Event
from dockyard.repos.models import Repository

log = logging.getLogger(__name__)

_Batch = list[tuple[list[dict[str, Any]], str, "asyncio.Future[None]"]]
_outbox = cast(Table, OutboxEvent.__table__)
_repositories = cast(Table, Repository.__table__)


class PullRecorder:
    """One per worker process (kept on app.state); writes batches on the running event loop."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._pending: _Batch = []
        self._task: asyncio.Task[None] | None = None

    async def record(self, rows: list[dict[str, Any]], repository_id: str) -> None:
        """Queue outbox rows and one pull of `repository_id`; return once they are committed
        (raise if the batch failed)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((rows, repository_id, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        # shield: a client that disconnects must not cancel the batch others wait on.
        await asyncio.shield(future)

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await self._write(batch)
            except Exception as exc:  # every waiter gets the error: its request fails
                log.warning("registry.pull_batch_failed", exc_info=True)
                for _rows, _repo, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _rows, _repo, future in batch:
                if not future.done():
                    future.set_result(None)
            # A background writer over a plain connection (no ORM session, so no after-commit
            # hook): the one place that wakes the consumers by hand after its own commit.
            notify_committed()

    async def _write(
        self, batch: list[tuple[list[dict[str, Any]], str, asyncio.Future[None]]]
    ) -> None:
        rows = [row for entry_rows, _repo, _f in batch for row in entry_rows]
        pulls = Counter(repo for _rows, repo, _f in batch)
        async with self._engine.begin() as conn:
            if rows:
                await conn.execute(_outbox.insert(), rows)
            # A fixed order: two processes updating the same repositories never deadlock.
            for repository_id in sorted(pulls):
                await conn.execute(
                    update(_repositories)
                    .where(_repositories.c.id == repository_id)
                    .values(pulls=_repositories.c.pulls + pulls[repository_id])
                )


def outbox_row(event: Event) -> dict[str, Any]:
    """The outbox row `events.bus.record` would add for `event`, as plain column values."""
    return {
        "id": new_uuid(),
        "type": event.type.value,
        "repository_key": event.repository_key,
        "namespace_key": event.namespace,
        "actor": event.actor,
        "payload": event.payload(),
        "created_at": event.created_at,
        "dispatched_at": None,
    }


def pull_recorder(request: Request) -> PullRecorder:
    """This process's recorder (created on first use, bound to the app's database engine)."""
    recorder: PullRecorder | None = getattr(request.app.state, "pull_recorder", None)
    if recorder is None:
        recorder = PullRecorder(request.app.state.services.engine)
        request.app.state.pull_recorder = recorder
    return recorder
