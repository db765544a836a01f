"""The pull path's writes: pull counters aggregated in memory, and group commit for the
MANIFEST_PULL/TAG_PULL outbox rows a pull records (DOCKYARD_PULL_EVENTS says when).

Counters (`repositories.pulls`) are a statistic nobody reads per request: each worker process
adds them up and writes them in one transaction at most once a second (and at shutdown,
`close`), so a pull that records no event writes nothing while its client waits. Events are a
promise: on SQLite every write takes the one database write lock, so concurrent pulls of a
worker process hand their rows to this recorder, which writes everything pending in ONE
transaction and only then resolves each waiter: a pull that records events is answered after
they are committed, so a crash loses no event that a client saw succeed. While one batch
commits the next one gathers, so the batch size follows the load without any timer.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
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

_Batch = list[tuple[list[dict[str, Any]], "asyncio.Future[None]"]]
_outbox = cast(Table, OutboxEvent.__table__)
_repositories = cast(Table, Repository.__table__)
# How long pull counts may wait in memory: a second of a process's pulls in one transaction.
COUNT_FLUSH_SECONDS = 1.0


class PullRecorder:
    """One per worker process (kept on the registry app's state); writes on the running event
    loop."""

    def __init__(self, engine: AsyncEngine, flush_seconds: float = COUNT_FLUSH_SECONDS) -> None:
        self._engine = engine
        self._flush_seconds = flush_seconds
        self._pending: _Batch = []
        self._task: asyncio.Task[None] | None = None
        self._counts: Counter[str] = Counter()
        self._flusher: asyncio.Task[None] | None = None

    async def record(self, rows: list[dict[str, Any]], repository_id: str) -> None:
        """Count one pull of `repository_id` (written within a second); queue `rows` (outbox
        rows) and return once they are committed (raise if their batch failed)."""
        self._counts[repository_id] += 1
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_soon())
        if not rows:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((rows, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        # shield: a client that disconnects must not cancel the batch others wait on.
        await asyncio.shield(future)

    async def flush_counts(self) -> None:
        """Write the pull counts gathered so far in one transaction; on failure they stay
        gathered (and are logged) for the next flush."""
        counts, self._counts = self._counts, Counter()
        if not counts:
            return
        try:
            async with self._engine.begin() as conn:
                # A fixed order: two processes updating the same repositories never deadlock.
                for repository_id in sorted(counts):
                    await conn.execute(
                        update(_repositories)
                        .where(_repositories.c.id == repository_id)
                        .values(pulls=_repositories.c.pulls + counts[repository_id])
                    )
        except Exception:
            log.warning("registry.pull_counts_failed", exc_info=True)
            self._counts.update(counts)
        except BaseException:  # cancelled mid-write: keep them for close()
            self._counts.update(counts)
            raise

    async def close(self) -> None:
        """At shutdown: the counts still in memory are written now."""
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
        if self._task is not None and not self._task.done():
            await asyncio.gather(self._task, return_exceptions=True)
        await self.flush_counts()

    async def _flush_soon(self) -> None:
        while True:
            await asyncio.sleep(self._flush_seconds)
            await self.flush_counts()
            if not self._counts:
                return

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                async with self._engine.begin() as conn:
                    await conn.execute(_outbox.insert(), [r for rows, _f in batch for r in rows])
            except Exception as exc:  # every waiter gets the error: its request fails
                log.warning("registry.pull_batch_failed", exc_info=True)
                for _rows, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _rows, future in batch:
                if not future.done():
                    future.set_result(None)
            # A background writer over a plain connection (no ORM session, so no after-commit
            # hook): the one place that wakes the consumers by hand after its own commit.
            notify_committed()


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


# One recorder per database engine, i.e. per worker process and application (tests build
# several); weak, so a disposed application's recorder goes with its engine.
_RECORDERS: weakref.WeakKeyDictionary[AsyncEngine, PullRecorder] = weakref.WeakKeyDictionary()


def recorder_for(engine: AsyncEngine) -> PullRecorder:
    """The recorder writing through `engine` (created on first use)."""
    recorder = _RECORDERS.get(engine)
    if recorder is None:
        recorder = _RECORDERS[engine] = PullRecorder(engine)
    return recorder


async def close_recorders() -> None:
    """At shutdown (the application's lifespan, before the engine is disposed): every
    recorder of this process writes the pull counts it still holds."""
    for recorder in list(_RECORDERS.values()):
        await recorder.close()


def pull_recorder(request: Request) -> PullRecorder:
    """This process's recorder, bound to the app's database engine (kept on the app's state
    too: one lookup per pull)."""
    recorder: PullRecorder | None = getattr(request.app.state, "pull_recorder", None)
    if recorder is None:
        recorder = recorder_for(request.app.state.services.engine)
        request.app.state.pull_recorder = recorder
    return recorder
