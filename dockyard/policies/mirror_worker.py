"""The mirror worker: a task of the delivery process (`dockyard worker`, or the HTTP process when
it runs the workers itself), as the scanner is. Each step reads new TAG_PUSH events through the
mirroring outbox cursor (push mirroring: a job per policy whose rules hold), queues a poll job per
enabled poll policy every DOCKYARD_POLL_MIRROR_INTERVAL seconds, then claims due mirror jobs with
a lease (`jobs.lease.claim`) and runs them one by one, renewing the lease while a job runs (a
long transfer outlasts it) so no other worker takes the job over. A failed job is retried with
backoff (RETRY_SECONDS doubled per attempt) up to MAX_ATTEMPTS; each outcome is the policy's
lastStatus.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import Table, delete, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dockyard.clock import utcnow
from dockyard.events.bus import subscribe_wakeups
from dockyard.events.cursors import PACE
from dockyard.jobs.lease import LeaseLost, claim, renew, run_renewing
from dockyard.jobs.runner import run_forever
from dockyard.kit.ssrf import parse_networks
from dockyard.policies.credentials import CredentialsError, Vault
from dockyard.policies.mirror_consumer import consume_pushes
from dockyard.policies.mirror_models import MirroringPolicy, MirrorJob
from dockyard.policies.mirror_runs import Context, Remote, run_poll, run_push, set_status
from dockyard.policies.mirror_service import enqueue_polls
from dockyard.policies.mirror_transfer import Local
from dockyard.policies.ociclient import RemoteError
from dockyard.repos.models import Repository

log = logging.getLogger(__name__)

_JOBS: Table = MirrorJob.__table__  # type: ignore[assignment]
LEASE_SECONDS = 600.0
RENEWALS_PER_LEASE = 4  # the lease is renewed every quarter of its length while a job runs
CLAIM_BATCH = 4
MAX_ATTEMPTS = 5
RETRY_SECONDS = 10.0
POLL_INTERVAL = 1.0
FINISHED_JOB_DAYS = 7


class MirrorWorker:
    def __init__(self, services: Any) -> None:
        settings = services.settings
        self.sessionmaker: async_sessionmaker[AsyncSession] = services.sessionmaker
        self.ctx = Context(
            Local(services.sessionmaker, services.storage, settings.registry_host),
            Vault.from_settings(settings),
            parse_networks(settings.webhook_blocked_networks),
        )
        self.interval = float(settings.poll_mirror_interval)
        self.next_poll = time.monotonic() + min(self.interval, 60.0)
        self.replica = f"{socket.gethostname()[:60]}-{os.getpid()}-mirror"
        self.retry_seconds = RETRY_SECONDS
        self.lease_seconds = LEASE_SECONDS

    async def step(self) -> int:
        async with self.sessionmaker() as session:
            read = await consume_pushes(session)
            if time.monotonic() >= self.next_poll:
                self.next_poll = time.monotonic() + self.interval
                read += await enqueue_polls(session)
            await session.commit()
        return read + await self._work()

    async def _claim(self) -> list[str]:
        async with self.sessionmaker() as session:
            token, rows = await claim(
                session,
                _JOBS,
                where=_JOBS.c.status == "pending",
                due_column="next_attempt_at",
                token_column="lease_token",
                now=utcnow(),
                lease_seconds=self.lease_seconds,
                limit=CLAIM_BATCH,
                returning=("id",),
            )
            if rows:
                await session.execute(
                    update(_JOBS)
                    .where(_JOBS.c.lease_token == token)
                    .values(claimed_by=self.replica, attempts=_JOBS.c.attempts + 1)
                )
            await session.commit()
        return [str(row.id) for row in rows]

    async def _work(self) -> int:
        ids = await self._claim()
        for job_id in ids:
            await self.run(job_id)
        return len(ids)

    async def _load(self, job_id: str) -> tuple[MirrorJob, Repository, MirroringPolicy | None]:
        async with self.sessionmaker() as session:
            job = await session.get(MirrorJob, job_id)
            if job is None:
                raise LookupError(job_id)
            repo = await session.get(Repository, job.repository_id)
            policy = await session.get(MirroringPolicy, job.policy_id) if job.policy_id else None
            session.expunge_all()
        if repo is None:
            raise LookupError(job_id)
        return job, repo, policy

    async def run(self, job_id: str) -> None:
        try:
            job, repo, policy = await self._load(job_id)
        except LookupError:
            return
        if job.policy_id and (policy is None or not policy.enabled):
            await self._finish(job, "done", "the policy was deleted or disabled")
            return
        try:
            await run_renewing(
                self._transfer(job, repo, policy),
                lambda: self._renew(job),
                self.lease_seconds / RENEWALS_PER_LEASE,
            )
        except asyncio.CancelledError:
            raise
        except LeaseLost:
            # Another worker claimed the job after our lease ran out: it is theirs now.
            log.warning("mirror.job.lease_lost", extra={"job": job.id})
        except (RemoteError, CredentialsError, OSError) as exc:
            await self._retry(job, str(exc) or type(exc).__name__)
        except Exception as exc:
            log.exception("mirror.job.failed", extra={"job": job.id, "kind": job.kind})
            await self._retry(job, f"{type(exc).__name__}: {exc}")

    async def _transfer(
        self, job: MirrorJob, repo: Repository, policy: MirroringPolicy | None
    ) -> None:
        if job.kind == "poll" and policy is not None:
            detail = await run_poll(self.ctx, policy, repo)
            await self._finish(job, "done", "", (200, detail))
        else:
            remote = Remote.of_policy(policy) if policy else Remote.of_target(job.target)
            await run_push(self.ctx, job, repo, remote)

    async def _renew(self, job: MirrorJob) -> bool:
        """Extend the lease of the batch `job` was claimed in; False once `job` is not held."""
        if not job.lease_token:
            return True
        async with self.sessionmaker() as session:
            held = await renew(
                session,
                _JOBS,
                due_column="next_attempt_at",
                token_column="lease_token",
                token=job.lease_token,
                now=utcnow(),
                lease_seconds=self.lease_seconds,
            )
            await session.commit()
        return job.id in held

    async def _finish(
        self, job: MirrorJob, state: str, error: str, outcome: tuple[int, str] | None = None
    ) -> None:
        async with self.sessionmaker() as session:
            await session.execute(
                update(_JOBS)
                .where(_JOBS.c.id == job.id)
                .values(status=state, error=error[:2000], lease_token=None, updated_at=utcnow())
            )
            if outcome is not None:
                await set_status(session, job.policy_id, outcome[0], outcome[1], state == "done")
            await session.commit()

    async def _retry(self, job: MirrorJob, error: str) -> None:
        log.warning("mirror.job.retry", extra={"job": job.id, "attempts": job.attempts})
        if job.attempts >= MAX_ATTEMPTS:
            await self._finish(job, "failed", error, (502, error))
            return
        due = utcnow() + timedelta(seconds=self.retry_seconds * 2 ** max(job.attempts - 1, 0))
        async with self.sessionmaker() as session:
            await session.execute(
                update(_JOBS)
                .where(_JOBS.c.id == job.id)
                .values(next_attempt_at=due, lease_token=None, error=error[:2000])
            )
            await set_status(session, job.policy_id, 502, error, False)
            await session.commit()

    async def prune(self) -> None:
        async with self.sessionmaker() as session:
            await session.execute(
                delete(_JOBS).where(
                    _JOBS.c.status.in_(("done", "failed")),
                    _JOBS.c.updated_at < utcnow() - timedelta(days=FINISHED_JOB_DAYS),
                )
            )
            await session.commit()


async def run_mirror_worker(services: Any) -> None:
    """The mirror worker until cancelled."""
    worker = MirrorWorker(services)
    wake = subscribe_wakeups()
    log.info("mirror.worker.started", extra={"replica": worker.replica})
    try:
        await worker.prune()
    except Exception:
        log.exception("mirror.prune.failed")
    await run_forever("mirror", worker.step, wake=wake, poll_interval=POLL_INTERVAL, pace=PACE)
