"""Wake-ups across nodes on PostgreSQL: `NOTIFY` after a commit that recorded events, `LISTEN`
where consumers run.

Every process forwards its commits (coalesced: one `pg_notify` per burst, over a pooled
connection, after the commit, so a rolled-back change announces nothing); a process that runs
the dispatcher and the other outbox consumers holds one connection of its own that LISTENs and
wakes them (`bus.wake_local`, which never echoes back out). The payload names the sending
process, which ignores its own. Best effort, like the local Unix socket of webhooks/wake.py: a
lost notification (a connection dropped, a listener reconnecting) only means the consumers'
poll picks the event up; each reconnect wakes them once in case one was missed. SQLite keeps
the local mechanism only.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine

from dockyard.events import bus

log = logging.getLogger(__name__)

CHANNEL = "dockyard_commits"
# Names this process in its notifications, so its own listener can skip them.
PROCESS_TOKEN = uuid.uuid4().hex
RECONNECT_SECONDS = (0.5, 1.0, 2.0, 5.0)


def is_postgres(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "postgresql"


def _dsn(database_url: str) -> str:
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


async def forward_commits(engine: AsyncEngine) -> None:
    """Background task: NOTIFY after each local commit that recorded events, until cancelled."""
    waker = bus.subscribe_forwarding()
    while True:
        await waker.wait()
        waker.clear()
        try:
            async with engine.connect() as conn:
                await conn.execute(
                    text("SELECT pg_notify(:channel, :token)"),
                    {"channel": CHANNEL, "token": PROCESS_TOKEN},
                )
                await conn.commit()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("events.notify.send_failed", exc_info=True)
            await asyncio.sleep(1.0)


async def listen(database_url: str, on_wake: Callable[[], None] = bus.wake_local) -> None:
    """Background task: LISTEN on a connection of its own and call `on_wake` for each
    notification from another process; reconnect with a backoff when the connection drops."""
    attempt = 0
    while True:
        try:
            await _listen_once(database_url, on_wake)
            attempt = 0
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("events.notify.listen_failed", extra={"error": str(exc)})
        await asyncio.sleep(RECONNECT_SECONDS[min(attempt, len(RECONNECT_SECONDS) - 1)])
        attempt += 1


async def _listen_once(database_url: str, on_wake: Callable[[], None]) -> None:
    # Imported here: only PostgreSQL listens, and a process on SQLite never loads the driver.
    import asyncpg  # type: ignore[import-untyped]  # no stubs; one call used

    conn: Any = await asyncpg.connect(_dsn(database_url))
    lost = asyncio.Event()

    def on_notification(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload != PROCESS_TOKEN:
            on_wake()

    try:
        conn.add_termination_listener(lambda _conn: lost.set())
        await conn.add_listener(CHANNEL, on_notification)
        log.info("events.notify.listening")
        # Anything committed while this connection was not listening is picked up now.
        on_wake()
        while not lost.is_set() and not conn.is_closed():
            # A dropped TCP connection is not always reported: a cheap query every so often
            # notices it and reconnects.
            try:
                await asyncio.wait_for(lost.wait(), 15.0)
            except TimeoutError:
                await conn.execute("SELECT 1")
    finally:
        if not conn.is_closed():
            await conn.close(timeout=2.0)


Task = Callable[[Any], Coroutine[Any, Any, None]]


def background_tasks(database_url: str, *, consumes: bool) -> list[Task]:
    """The tasks a process runs (each takes the services): forward its commits, and listen when
    it runs consumers. None on SQLite."""
    if not is_postgres(database_url):
        return []
    tasks: list[Task] = [lambda services: forward_commits(services.engine)]
    if consumes:
        tasks.append(lambda services: listen(services.settings.resolved_database_url))
    return tasks
