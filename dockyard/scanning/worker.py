"""The scanner: a task of the delivery process (`dockyard worker`, or the HTTP process when it
runs the workers itself). Each step reads new TAG_PUSH events through the scanner's outbox
cursor (scan on push), then claims due scan jobs with a lease (`jobs.lease.claim`: SKIP LOCKED on
PostgreSQL) and runs them one by one: scans, checks and database imports. A job whose process
died is claimed again when its lease ends, at once by the same replica when it restarts; after
MAX_ATTEMPTS a scan fails with SCAN_FAILED. It beats as a scanner replica meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Table, delete, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dockyard.clock import utcnow
from dockyard.events.bus import subscribe_wakeups
from dockyard.events.cursors import PACE
from dockyard.jobs.lease import claim
from dockyard.jobs.runner import run_forever
from dockyard.meta import service as meta_settings
from dockyard.scanning import replicas
from dockyard.scanning.execute import Context, Target, fail, run_check, run_scan
from dockyard.scanning.imports import import_and_announce
from dockyard.scanning.inventory import Limits
from dockyard.scanning.models import ScanJob
from dockyard.scanning.push_consumer import consume_pushes
from dockyard.scanning.vulndb import (
    ImportLimits,
    VulnDBBusyError,
    VulnDBImportError,
    current_db,
)

log = logging.getLogger(__name__)

_JOBS: Table = ScanJob.__table__  # type: ignore[assignment]
_RETURNING = ("id", "kind", "repository_id", "tag", "manifest_digest", "source", "attempts")
LEASE_SECONDS = 300.0
CLAIM_BATCH = 16
MAX_ATTEMPTS = 3
# An import waits for a running one (VulnDBBusyError) this many times, RETRY_SECONDS apart.
MAX_IMPORT_ATTEMPTS = 20
RETRY_SECONDS = 30.0
POLL_INTERVAL = 0.5
# Finished scan and check jobs are kept this long (imports, a handful, stay: the status API
# reports whether the last one failed).
FINISHED_JOB_DAYS = 7
PRUNE_SECONDS = 3600.0


class ScanWorker:
    def __init__(self, services: Any, role: str = "worker") -> None:
        settings = services.settings
        self.sessionmaker: async_sessionmaker[AsyncSession] = services.sessionmaker
        self.settings = settings
        self.ctx = Context(
            self.sessionmaker,
            services.storage,
            settings.registry_host,
            Limits.from_settings(settings),
        )
        self.replica = replicas.replica_id(Path(settings.data_dir), role)
        self.import_limits = ImportLimits.from_settings(settings)
        self.held: set[str] = set()

    async def release_own(self) -> None:
        """Leases this replica held before a restart are due again now."""
        async with self.sessionmaker() as session:
            await session.execute(
                update(_JOBS)
                .where(_JOBS.c.status == "pending", _JOBS.c.claimed_by == self.replica)
                .values(next_attempt_at=utcnow(), lease_token=None, claimed_by="")
            )
            await session.commit()

    async def step(self) -> int:
        async with self.sessionmaker() as session:
            # scanningEnabled is read at each step: turning it off stops scan on push at once.
            enabled = await meta_settings.scanning_enabled(session, self.settings)
            read = await consume_pushes(session, enabled=enabled)
            await session.commit()
        return read + await self._work()

    async def _claim(self) -> list[Any]:
        now = utcnow()
        async with self.sessionmaker() as session:
            token, rows = await claim(
                session,
                _JOBS,
                where=_JOBS.c.status == "pending",
                due_column="next_attempt_at",
                token_column="lease_token",
                now=now,
                lease_seconds=LEASE_SECONDS,
                limit=CLAIM_BATCH,
                returning=_RETURNING,
            )
            if rows:
                await session.execute(
                    update(_JOBS)
                    .where(_JOBS.c.lease_token == token)
                    .values(claimed_by=self.replica, attempts=_JOBS.c.attempts + 1)
                )
            await session.commit()
        return list(rows)

    async def _work(self) -> int:
        rows = await self._claim()
        # Every claimed job's lease is renewed until it is run, not only the running one's.
        self.held.update(row.id for row in rows)
        try:
            for row in rows:
                await self._run(row)
                self.held.discard(row.id)
        finally:
            self.held.difference_update(row.id for row in rows)
        return len(rows)

    async def _run(self, row: Any) -> None:
        target = Target(row.repository_id or "", row.tag, row.manifest_digest)
        try:
            if row.attempts >= MAX_ATTEMPTS and row.kind != "import":
                await self._give_up(row, target)
                return
            if row.kind == "scan":
                await run_scan(self.ctx, target)
            elif row.kind == "check":
                await run_check(self.ctx, target)
            elif row.kind == "import" and not await self._import(row.source):
                await self._finish(row.id, "failed", "the database archive was refused")
                return
            await self._finish(row.id, "done", "")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("scan.job.failed", extra={"job": row.id, "kind": row.kind})
            await self._retry(row, f"{type(exc).__name__}: {exc}")

    async def _import(self, source: str) -> bool:
        """Whether the import succeeded (a refused archive is announced with success false;
        the previous version stays current)."""
        path = Path(source)
        try:
            await import_and_announce(
                self.sessionmaker, path, replica=self.replica, limits=self.import_limits
            )
        except VulnDBBusyError:
            raise  # retried later (the archive is kept)
        except VulnDBImportError:
            await asyncio.to_thread(path.unlink, True)
            return False
        await asyncio.to_thread(path.unlink, True)
        return True

    async def _give_up(self, row: Any, target: Target) -> None:
        async with self.sessionmaker() as session:
            await fail(
                session,
                self.ctx,
                target,
                f"the scan did not finish after {MAX_ATTEMPTS} attempts",
            )
            await session.commit()
        await self._finish(row.id, "failed", "too many attempts")

    async def _finish(self, job_id: str, status: str, error: str) -> None:
        async with self.sessionmaker() as session:
            await session.execute(
                update(_JOBS)
                .where(_JOBS.c.id == job_id)
                .values(status=status, error=error, lease_token=None, updated_at=utcnow())
            )
            await session.commit()

    async def _retry(self, row: Any, error: str) -> None:
        attempts = row.attempts + 1
        if row.kind == "import" and attempts >= MAX_IMPORT_ATTEMPTS:
            await asyncio.to_thread(Path(row.source).unlink, True)
            await self._finish(row.id, "failed", error[:2000])
            return
        if row.kind != "import" and attempts >= MAX_ATTEMPTS:
            await self._give_up(row, Target(row.repository_id or "", row.tag, row.manifest_digest))
            return
        due = utcnow() + timedelta(seconds=RETRY_SECONDS * attempts)
        async with self.sessionmaker() as session:
            await session.execute(
                update(_JOBS)
                .where(_JOBS.c.id == row.id)
                .values(next_attempt_at=due, lease_token=None, error=error[:2000])
            )
            await session.commit()

    async def renew(self) -> None:
        """Push the held jobs' leases forward (a long scan keeps its job)."""
        if not self.held:
            return
        async with self.sessionmaker() as session:
            await session.execute(
                update(_JOBS)
                .where(_JOBS.c.id.in_(list(self.held)), _JOBS.c.claimed_by == self.replica)
                .values(next_attempt_at=utcnow() + timedelta(seconds=LEASE_SECONDS))
            )
            await session.commit()

    async def prune(self) -> None:
        async with self.sessionmaker() as session:
            await session.execute(
                delete(_JOBS).where(
                    _JOBS.c.status.in_(("done", "failed")),
                    _JOBS.c.kind != "import",
                    _JOBS.c.updated_at < utcnow() - timedelta(days=FINISHED_JOB_DAYS),
                )
            )
            await session.commit()

    async def beat(self) -> None:
        async with self.sessionmaker() as session:
            db = await current_db(session)
            await replicas.beat(
                session,
                self.replica,
                db.version if db else None,
                db.updated_at if db else None,
                utcnow(),
            )
            await session.commit()


async def _every(seconds: float, name: str, action: Any) -> None:
    while True:
        try:
            await action()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("scan.background.failed", extra={"task": name})
        await asyncio.sleep(seconds)


async def run_scanner(services: Any, role: str = "worker") -> None:
    """The scanner until cancelled."""
    worker = ScanWorker(services, role)
    await worker.release_own()
    wake = subscribe_wakeups()
    tasks = [
        asyncio.create_task(_every(replicas.HEARTBEAT_SECONDS, "beat", worker.beat)),
        asyncio.create_task(_every(LEASE_SECONDS / 3, "renew", worker.renew)),
        asyncio.create_task(_every(PRUNE_SECONDS, "prune", worker.prune)),
    ]
    log.info("scan.worker.started", extra={"replica": worker.replica})
    try:
        await run_forever("scan", worker.step, wake=wake, poll_interval=POLL_INTERVAL, pace=PACE)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # A clean stop (SIGTERM): the jobs held go to the other replicas now, not at lease end.
        await asyncio.gather(asyncio.shield(worker.release_own()), return_exceptions=True)
