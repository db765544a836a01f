"""The delivery engine: the stages of the webhook pipeline wired together, and the process
that runs them.

    dispatch (outbox -> deliveries, first attempts handed off)   dispatch.Dispatcher
    claim    (due deliveries, leased; SKIP LOCKED on PostgreSQL) claim.Claimer
    send     (per-endpoint slots and backlogs; signed; SSRF-safe) send.Sender
    record   (summarize(batch), one writer)                      record.Recorder

Jobs are built in one place (`job.build_jobs`). A lease that expires (a crashed or killed
worker) makes its deliveries due again: at-least-once. This module only composes and runs the
stages; each owns its own rules.

Several delivery processes (`DOCKYARD_DELIVERY_PROCESSES`): each claims, sends and records
(leased claims: SKIP LOCKED on PostgreSQL, SQLite's single writer otherwise); only process 0
dispatches, runs retention and the companions (scanning, policies, cluster tasks), which follow
outbox cursors of their own and would only compete with themselves if run N times. When a
dispatched batch leaves deliveries for the claim stage, process 0 tells the others
(`wake.DueAnnouncer`), so they claim at once.

Idle costs nothing: with no work each loop sleeps until it is woken (a commit, here or through
the wake socket; a result to record; a claim asked for by the send stage) or until the next
pending delivery falls due. The polls left (`FALLBACK_POLL`) are a slow safety net for a
wake-up lost on the way (another node's commit, a full socket buffer).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dockyard.clock import utcnow
from dockyard.config import Settings
from dockyard.jobs.lease import release
from dockyard.jobs.runner import run_forever
from dockyard.meta import service as meta_settings
from dockyard.webhooks import liveness
from dockyard.webhooks import wake as wakeups
from dockyard.webhooks.claim import Claimer
from dockyard.webhooks.dispatch import Dispatcher
from dockyard.webhooks.models import Delivery, Subscription
from dockyard.webhooks.outbound import make_transport
from dockyard.webhooks.record import Recorder
from dockyard.webhooks.retention import run_retention
from dockyard.webhooks.send import Sender
from dockyard.webhooks.transport import Transport

log = logging.getLogger(__name__)
_DELIVERIES: Table = Delivery.__table__  # type: ignore[assignment]

# How often the dispatcher and the claim stage look for work nobody told them about.
FALLBACK_POLL = 10.0
# The same, for an engine that could not bind a wake socket (commits reach it only by polling).
UNWOKEN_POLL = 1.0
# How often the delivery process re-reads webhookTimeout (POST /api/v0/meta/settings).
SETTINGS_SECONDS = 2.0


class DeliveryEngine:
    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        transport: Transport,
        *,
        dispatches: bool = True,
    ) -> None:
        self.settings = settings
        # Process 0 of several (or the only one): dispatches and runs retention.
        self.dispatches = dispatches
        # Called when a dispatched batch left deliveries due for the claim stage.
        self.announce_due: Callable[[], None] | None = None
        self.sessionmaker = sessionmaker
        self.recorder = Recorder(sessionmaker, settings.retry_schedule)
        self.sender = Sender(settings, transport, self.recorder)
        self.claimer = Claimer(settings, sessionmaker, self.sender)
        self.dispatcher = Dispatcher(settings, sessionmaker, self.sender)

        self.poll_interval = FALLBACK_POLL

    @property
    def dispatch_wake(self) -> asyncio.Event:
        return self.dispatcher.wake

    async def dispatch_step(self) -> int:
        """One dispatch batch; the other delivery processes hear of what it left due."""
        count = await self.dispatcher.step()
        # The step sets the claim wake-up (after its last await) when it left deliveries due.
        if count and self.announce_due is not None and self.sender.claim_wake.is_set():
            self.announce_due()
        return count

    async def run_dispatcher(self) -> None:
        await run_forever(
            "webhook.dispatch",
            self.dispatch_step,
            wake=self.dispatcher.wake,
            poll_interval=self.poll_interval,
        )

    async def run_recorder(self) -> None:
        """Flush the results FLUSH_INTERVAL after the first one (or sooner when the buffer
        fills); renew the held leases every third of a lease. Asleep while nothing is sent or
        held. What is left is flushed when cancelled."""
        try:
            while True:
                await self.recorder.wait(self.claimer.renewal_in())
                if await self.recorder.flush():
                    # Retries and hand-backs were written: the claim's next due time moved.
                    self.sender.claim_wake.set()
                if self.claimer.renewal_due:
                    lost = await self.claimer.renew_leases()
                    if lost:
                        self.sender.drop(lost)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.recorder.flush())

    async def run_claims(self) -> None:
        """Claim while there is work; then sleep until woken or the next delivery is due."""
        wake = self.sender.claim_wake
        while True:
            wake.clear()
            try:
                if await self.claimer.step():
                    await asyncio.sleep(0)
                    continue
                delay = await self.claimer.next_due_in(self.poll_interval)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("job.step.failed", extra={"job": "webhook.deliver"})
                delay = 1.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), delay)

    async def run_deliverer(self) -> None:
        recorder = asyncio.create_task(self.run_recorder())
        try:
            await self.run_claims()
        finally:
            tokens = {job.token for job in self.sender.held.values()}
            await self.sender.close()
            recorder.cancel()
            await asyncio.gather(recorder, return_exceptions=True)
            # What was held and not recorded goes back to the other workers at once.
            await asyncio.shield(release_held(self.sessionmaker, tokens))

    async def run(self) -> None:
        """Dispatcher, deliverer and the retention of old events and deliveries, until
        cancelled (the deliverer alone in a delivery process that does not dispatch)."""
        if not self.dispatches:
            await self.run_deliverer()
            return
        await asyncio.gather(
            self.run_dispatcher(),
            self.run_deliverer(),
            run_retention(self.settings, self.sessionmaker),
        )


async def release_held(sessionmaker: async_sessionmaker[AsyncSession], tokens: set[str]) -> None:
    """On a clean stop: the deliveries still leased under `tokens` are due again now."""
    try:
        async with sessionmaker() as session:
            count = await release(
                session,
                _DELIVERIES,
                where=_DELIVERIES.c.status == "pending",
                due_column="next_attempt_at",
                token_column="lease_token",
                tokens=sorted(tokens),
                now=utcnow(),
            )
            await session.commit()
        if count:
            log.info("webhook.leases.released", extra={"count": count})
    except Exception:
        log.exception("webhook.leases.release_failed")


async def follow_webhook_timeout(services: Any, transport: Transport) -> None:
    """Apply the stored webhookTimeout (else DOCKYARD_WEBHOOK_TOTAL_TIMEOUT) to the attempts
    that start from now on, re-read every SETTINGS_SECONDS: the setting is changed by the HTTP
    processes, this process only reads it."""
    while True:
        try:
            async with services.sessionmaker() as session:
                seconds = await meta_settings.webhook_timeout(session, services.settings)
            if seconds != transport.timeout.total:
                transport.set_total_timeout(seconds)
                log.info("webhook.timeout.applied", extra={"seconds": seconds})
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("webhook.timeout.read_failed")
        await asyncio.sleep(SETTINGS_SECONDS)


# Other background work the delivery process runs beside the engine (the scanner).
Companion = Callable[[Any], Awaitable[None]]


async def run_workers(
    services: Any, companions: Sequence[Companion] = (), *, number: int = 0
) -> None:
    """The engine until cancelled: the `dockyard worker` process (which `dockyard serve` runs as
    its child), or a background task of the HTTP process when it delivers in-process; with each
    companion task beside it. `number`: which of several delivery processes this is (0
    dispatches; the others only claim, send and record)."""
    settings = services.settings
    transport = make_transport(settings)
    engine = DeliveryEngine(settings, services.sessionmaker, transport, dispatches=number == 0)
    several = settings.delivery_processes > 1
    sock = wakeups.listen(
        settings.data_dir,
        engine.dispatch_wake if engine.dispatches else None,
        engine.sender.claim_wake if several else None,
    )
    if sock is None:
        engine.poll_interval = UNWOKEN_POLL
    announcer = wakeups.DueAnnouncer(settings.data_dir) if several and number == 0 else None
    engine.announce_due = announcer

    async def probe() -> None:
        # Reads a table the engine needs: an unmigrated or unreachable database fails here.
        async with services.sessionmaker() as session:
            await session.execute(select(Subscription.id).limit(1))

    heartbeat = asyncio.create_task(
        liveness.beat_forever(settings.data_dir, settings.health_heartbeat_timeout, probe, number)
    )
    others: list[asyncio.Future[None]] = [
        asyncio.ensure_future(run(services)) for run in companions
    ]
    others.append(asyncio.ensure_future(follow_webhook_timeout(services, transport)))
    log.info("webhook.workers.started", extra={"delivery_process": number})
    try:
        await engine.run()
    finally:
        for task in (heartbeat, *others):
            task.cancel()
        await asyncio.gather(heartbeat, *others, return_exceptions=True)
        wakeups.close(sock)
        if announcer is not None:
            announcer.close()
        await transport.close()


def main(settings: Settings, companions: Sequence[Companion] = (), *, number: int = 0) -> None:
    """`dockyard worker`: the engine on uvloop; SIGTERM/SIGINT stop it after recording what was
    sent (anything unrecorded is sent again when its lease ends)."""
    import signal

    import uvloop

    from dockyard.services import build_services

    async def run() -> None:
        services = build_services(settings)
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            if task is not None:
                loop.add_signal_handler(sig, task.cancel)
        try:
            await run_workers(services, companions, number=number)
        finally:
            await services.close()

    with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
        uvloop.run(run())
