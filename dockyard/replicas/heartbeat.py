"""The background tasks every process runs: beat into `replicas` until cancelled, then leave;
and (`cluster_tasks`) the cross-node wake-ups beside it.

A failed beat (the database away for a moment) is logged and tried again at the next one; the
row going stale meanwhile is what the others see. No HTTP here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from sqlalchemy import make_url

from dockyard.clock import utcnow
from dockyard.replicas import service

Task = Callable[[Any], Coroutine[Any, Any, None]]

log = logging.getLogger(__name__)


async def beat_forever(services: Any, role: str) -> None:
    me = await asyncio.to_thread(service.identity, Path(services.settings.data_dir), role)
    started = utcnow()
    log.info("replica.started", extra={"replica": me.id, "role": role})
    try:
        while True:
            try:
                async with services.sessionmaker() as session:
                    await service.beat(session, me, started, utcnow())
                    await session.commit()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("replica.beat_failed", extra={"replica": me.id})
            await asyncio.sleep(service.HEARTBEAT_SECONDS)
    finally:
        with contextlib.suppress(Exception):
            async with services.sessionmaker() as session:
                await asyncio.shield(_leave(session, me))


async def _leave(session: Any, me: service.Identity) -> None:
    await service.leave(session, me)
    await session.commit()


def cluster_tasks(settings: Any, role: str) -> list[Task]:
    """What a process in `role` runs beside its work (each task takes the services): its
    heartbeat, and on PostgreSQL the wake-ups: every process forwards its commits to other
    nodes; a process that runs the outbox consumers (a worker, or "all") listens for theirs."""

    async def heartbeat(services: Any) -> None:
        await beat_forever(services, role)

    url = settings.resolved_database_url
    if make_url(url).get_backend_name() != "postgresql":
        # On SQLite there is no other node to wake: the wake-ups' module (and asyncpg, about
        # 3 MB in each HTTP worker and the delivery child) is not imported.
        return [heartbeat]
    from dockyard.events import notify

    return [heartbeat, *notify.background_tasks(url, consumes=role != "api")]
