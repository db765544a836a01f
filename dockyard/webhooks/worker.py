"""The delivery engine: the dispatcher loop and the delivery workers.

Workers claim due deliveries in batches with a lease (jobs.lease), send each outside any
transaction, and record the results of many attempts in one transaction, so SQLite keeps up.
A lease that expires (a crashed or killed worker) makes its deliveries due again. First attempts
skip the claim: the dispatcher inserts them leased to this engine and sends them at once
(dispatch.Handoff), as far as there is room; the rest wait for the claimer.

Fairness: a slow endpoint may only slow itself. Each endpoint (origin) has
`webhook_max_per_endpoint` sending slots and a bounded backlog of deliveries waiting for one;
only sending deliveries count against `webhook_concurrency`. Deliveries of a busy endpoint (its
slots taken) are not claimed with everyone else's: the general claim skips its subscriptions,
and a claim of its own refills its backlog, up to the places it has free, when half of it has
drained. A delivery that arrives for an endpoint with no place left is handed back, due again
shortly, without counting an attempt. The leases of held deliveries are renewed while they wait
or send.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, Table, and_, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dockyard.clock import utcnow
from dockyard.config import Settings
from dockyard.events import bus
from dockyard.events.models import OutboxEvent
from dockyard.jobs.lease import claim, new_token
from dockyard.jobs.runner import run_forever
from dockyard.webhooks import liveness, metrics
from dockyard.webhooks import wake as wakeups
from dockyard.webhooks.authors import deactivate_lost
from dockyard.webhooks.delivery import AttemptResult, attempt
from dockyard.webhooks.dispatch import dispatch_batch
from dockyard.webhooks.models import Delivery, DeliveryAttempt, Subscription
from dockyard.webhooks.retention import run_retention
from dockyard.webhooks.retry import Decision, ErrorKind, Outcome, decide
from dockyard.webhooks.service import signing_secrets
from dockyard.webhooks.signing import headers_for
from dockyard.webhooks.transport import Transport

log = logging.getLogger(__name__)

_DELIVERIES: Table = Delivery.__table__  # type: ignore[assignment]
_ATTEMPTS: Table = DeliveryAttempt.__table__  # type: ignore[assignment]
_SUBS: Table = Subscription.__table__  # type: ignore[assignment]

# The constant part of every delivery's headers, merged once per job rather than per request.
JSON_HEADERS = {"Content-Type": "application/json"}

CLAIM_BATCH = 200
POLL_INTERVAL = 0.1
# Results are recorded in one transaction every 0.1 s or every 1,000 attempts: few, short
# write transactions leave the SQLite write lock free for pushes most of the time.
FLUSH_INTERVAL = 0.1
FLUSH_BATCH = 1000
# A delivery taken while its endpoint has no place left is handed back, due again after this.
HAND_BACK_SECONDS = 0.1
# The general claim skips at most this many subscriptions of busy endpoints (a bounded
# statement); deliveries of any others that it takes beyond their endpoint's places are handed
# back.
MAX_SKIPPED_SUBSCRIPTIONS = 5000
# Busy endpoints refilled per claim step at most (one statement each), in turn.
REFILLS_PER_STEP = 16
# A busy endpoint not known to have more due deliveries is still looked at this often (retries
# fall due while it is busy).
RECHECK_SECONDS = 1.0


@dataclass
class Job:
    delivery_id: str
    token: str
    attempts: int
    event_created_at: datetime
    subscription_id: str
    endpoint: str
    tls_cert: str
    skip_tls_verification: bool
    body: bytes
    headers: dict[str, str]
    skip_reason: str = ""


@dataclass
class _Endpoint:
    """One origin's share of the engine: deliveries sending, deliveries waiting for a slot,
    and the subscriptions seen pointing at it (skipped by the claim while it is full)."""

    sending: int = 0
    waiting: deque[Job] = field(default_factory=deque)
    reserved: int = 0  # handed off by the dispatcher, not started yet
    subscriptions: set[str] = field(default_factory=set)
    # Due deliveries for it are likely left in the queue (not taken at dispatch, handed back,
    # or its last refill was full).
    more: bool = False
    checked_at: float = 0.0

    @property
    def held(self) -> int:
        return self.sending + len(self.waiting) + self.reserved


@lru_cache(maxsize=4096)
def _origin(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{(parts.netloc or '').lower()}"


def encode_body(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def make_transport(settings: Settings) -> Transport:
    return Transport(
        blocked_networks=settings.webhook_blocked_networks,
        concurrency=settings.webhook_concurrency,
        per_endpoint=settings.webhook_max_per_endpoint,
        connect_timeout=settings.webhook_connect_timeout,
        total_timeout=settings.webhook_total_timeout,
    )


class DeliveryEngine:
    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        transport: Transport,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.transport = transport
        self.schedule = settings.retry_schedule
        self.max_inflight = max(1, settings.webhook_concurrency)
        # Deliveries sending (each holds an endpoint slot); those waiting for one are not
        # counted here, so a slow endpoint's queue cannot take other endpoints' places.
        self.inflight = 0
        self.deliveries_wake = asyncio.Event()
        self._room = asyncio.Event()
        self._flush = asyncio.Event()
        self._results: list[tuple[Job, AttemptResult | None, datetime]] = []
        self._handed_back: list[Job] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        # Slots per origin: a delivery waits here, cheaply, rather than inside aiohttp, where
        # a queued request already holds its request object and its timeout (so its time in
        # the queue counted against the total timeout).
        self._per_endpoint = max(1, settings.webhook_max_per_endpoint)
        self._endpoints: dict[str, _Endpoint] = {}
        # Endpoints with a free slot whose waiting deliveries wait for a global place.
        self._starved: dict[str, _Endpoint] = {}
        # Every delivery held (waiting or sending), by id: its lease is renewed until recorded.
        self._held: dict[str, Job] = {}
        self._reserved = 0
        self._renewed_at = time.monotonic()
        self.dispatch_wake = bus.subscribe_wakeups()

    @property
    def backlog(self) -> int:
        """Deliveries one endpoint may have waiting for a slot: enough to keep a fast receiver
        busy between refills, and never more than the global places."""
        return max(self._per_endpoint, min(2 * CLAIM_BATCH, self.max_inflight))

    @property
    def refill_at(self) -> int:
        """Free places at which a busy endpoint's backlog is refilled."""
        return max(1, min(CLAIM_BATCH, self.backlog // 2))

    @property
    def endpoint_capacity(self) -> int:
        """Deliveries one endpoint may hold: its slots and its backlog."""
        return self._per_endpoint + self.backlog

    @property
    def held_capacity(self) -> int:
        """Deliveries the engine holds at most: one full endpoint leaves room for the rest."""
        return 2 * (self.max_inflight + self.backlog)

    @property
    def held_total(self) -> int:
        return len(self._held) + self._reserved

    def _busy(self, ep: _Endpoint) -> bool:
        return ep.held >= self._per_endpoint

    def _endpoint(self, endpoint: str) -> tuple[str, _Endpoint]:
        origin = _origin(endpoint)
        ep = self._endpoints.get(origin)
        if ep is None:
            ep = self._endpoints[origin] = _Endpoint()
        return origin, ep

    # -- dispatcher ---------------------------------------------------------------------

    async def dispatch_step(self) -> int:
        now = utcnow()
        token = new_token()
        # Places taken for the hand-offs until they are started: the claimer, running while
        # this commits, sees them and leaves those endpoints to their own refills.
        reserved: list[_Endpoint] = []

        def take(sub: Any) -> bool:
            """Hand a new delivery to this engine only while its endpoint has room."""
            _origin, ep = self._endpoint(sub.endpoint)
            ep.subscriptions.add(sub.id)
            if ep.held >= self.endpoint_capacity or self.held_total >= self.held_capacity:
                ep.more = True  # left in the queue, due now
                return False
            ep.reserved += 1
            self._reserved += 1
            reserved.append(ep)
            return True

        try:
            async with self.sessionmaker() as session:
                result = await dispatch_batch(
                    session,
                    now,
                    lease_token=token,
                    lease_seconds=self.settings.webhook_lease_seconds,
                    take=take,
                )
                await session.commit()
        finally:
            for ep in reserved:
                ep.reserved -= 1
            self._reserved -= len(reserved)
        if result.events:
            metrics.EVENTS_DISPATCHED.inc(result.events)
        if result.deactivated:
            log.warning(
                "webhook.subscription.author_lost_access", extra={"count": result.deactivated}
            )
        if result.handoffs:
            bodies: dict[int, bytes] = {}
            timestamp = int(time.time())
            jobs = []
            for h in result.handoffs:
                d = h.delivery
                body = bodies.get(d["event_seq"])
                if body is None:
                    body = bodies[d["event_seq"]] = encode_body(h.payload)
                jobs.append(
                    self._job(
                        token,
                        d["id"],
                        0,
                        d["event_created_at"],
                        d["event_id"],
                        h.subscription,
                        body,
                        now,
                        timestamp,
                    )
                )
            self._start(jobs, now)
        if result.deliveries > len(result.handoffs):
            self.deliveries_wake.set()
        return result.events

    async def run_dispatcher(self) -> None:
        await run_forever(
            "webhook.dispatch",
            self.dispatch_step,
            wake=self.dispatch_wake,
            poll_interval=POLL_INTERVAL,
        )

    # -- delivery -----------------------------------------------------------------------

    def _plan_claim(self) -> tuple[list[str], list[tuple[_Endpoint, int]]]:
        """The subscriptions the general claim skips (those of busy endpoints), and the busy
        endpoints to refill now, with how many each may take."""
        skipped: list[str] = []
        refills: list[tuple[_Endpoint, int]] = []
        refilled: list[str] = []
        now = time.monotonic()
        for origin, ep in list(self._endpoints.items()):
            if ep.held == 0:
                del self._endpoints[origin]  # idle: learnt again when next used
                continue
            if not self._busy(ep):
                continue
            if len(skipped) < MAX_SKIPPED_SUBSCRIPTIONS:
                skipped.extend(ep.subscriptions)
            free = self.endpoint_capacity - ep.held
            if (
                free >= self.refill_at
                and (ep.more or now - ep.checked_at >= RECHECK_SECONDS)
                and len(refills) < REFILLS_PER_STEP
            ):
                refills.append((ep, free))
                refilled.append(origin)
        # Endpoints refilled now go to the back of the line for the next step.
        for origin in refilled:
            self._endpoints[origin] = self._endpoints.pop(origin)
        return skipped[:MAX_SKIPPED_SUBSCRIPTIONS], refills

    async def claim_step(self) -> int:
        room = min(self.max_inflight - self.inflight, self.held_capacity - self.held_total)
        if room <= 0:
            self._room.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._room.wait(), 1.0)
            return 1
        now = utcnow()
        skipped, refills = self._plan_claim()
        pending = _DELIVERIES.c.status == "pending"
        claims: list[tuple[ColumnElement[bool], int, _Endpoint | None]] = []
        for ep, free in refills:
            subs = list(ep.subscriptions)[:MAX_SKIPPED_SUBSCRIPTIONS]
            claims.append((and_(pending, _DELIVERIES.c.subscription_id.in_(subs)), free, ep))
        general = pending
        if skipped:
            general = and_(pending, _DELIVERIES.c.subscription_id.not_in(skipped))
        claims.append((general, CLAIM_BATCH, None))
        jobs: list[Job] = []
        full_general: list[Job] = []
        async with self.sessionmaker() as session:
            for where, limit, target in claims:
                limit = min(limit, room - len(jobs))
                if limit <= 0:
                    break
                token, rows = await claim(
                    session,
                    _DELIVERIES,
                    where=where,
                    due_column="next_attempt_at",
                    token_column="lease_token",
                    now=now,
                    lease_seconds=self.settings.webhook_lease_seconds,
                    limit=limit,
                    returning=(
                        "id",
                        "subscription_id",
                        "event_seq",
                        "event_id",
                        "event_created_at",
                        "attempts",
                    ),
                )
                if target is not None:
                    target.more = len(rows) >= limit
                    target.checked_at = time.monotonic()
                if rows:
                    loaded = await self._load_jobs(session, token, rows, now)
                    jobs += loaded
                    if target is None and len(rows) >= limit:
                        full_general = loaded
            await session.commit()
        if not jobs:
            return 0
        # Only handed back: nothing to do until something frees (or the poll), not a busy loop.
        taken = self._start(jobs, now)
        for job in full_general:
            # The claim was full: more is likely due for these endpoints. Once busy they are
            # skipped by the general claim, so their own refill must know to come.
            known = self._endpoints.get(_origin(job.endpoint))
            if known is not None:
                known.more = True
        return taken

    def _start(self, jobs: list[Job], now: datetime) -> int:
        """Send, queue or hand back each job; returns how many were not handed back."""
        taken = 0
        for job in jobs:
            if job.skip_reason:
                self._results.append((job, None, now))
                taken += 1
            elif self._admit(job):
                taken += 1
        if len(self._results) >= FLUSH_BATCH or self._handed_back:
            self._flush.set()
        return taken

    def _admit(self, job: Job) -> bool:
        origin, ep = self._endpoint(job.endpoint)
        ep.subscriptions.add(job.subscription_id)
        if ep.held >= self.endpoint_capacity or self.held_total >= self.held_capacity:
            self._handed_back.append(job)
            ep.more = True
            return False
        self._held[job.delivery_id] = job
        ep.waiting.append(job)
        self._start_waiting(origin, ep)
        return True

    def _start_waiting(self, origin: str, ep: _Endpoint) -> None:
        while ep.waiting and ep.sending < self._per_endpoint and self.inflight < self.max_inflight:
            self._launch(ep.waiting.popleft(), ep)
        if ep.waiting and ep.sending < self._per_endpoint:
            self._starved[origin] = ep
        else:
            self._starved.pop(origin, None)

    def _launch(self, job: Job, ep: _Endpoint) -> None:
        ep.sending += 1
        self.inflight += 1
        task = asyncio.create_task(self._send(job, ep))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _slot_freed(self, job: Job, ep: _Endpoint) -> None:
        ep.sending -= 1
        self.inflight -= 1
        self._held.pop(job.delivery_id, None)
        if self._closing:
            return
        # The freed slot goes to this endpoint's next delivery; a freed global place to the
        # endpoints that waited for one.
        self._start_waiting(_origin(job.endpoint), ep)
        for origin, other in list(self._starved.items()):
            if self.inflight >= self.max_inflight:
                break
            self._start_waiting(origin, other)
        if ep.more and self.endpoint_capacity - ep.held == self.refill_at:
            # Half its backlog sent and more is due: refill it now rather than at the poll.
            self.deliveries_wake.set()
        self._room.set()

    def _job(
        self,
        token: str,
        delivery_id: str,
        attempts: int,
        event_created_at: datetime,
        event_id: str,
        sub: Any,
        body: bytes,
        now: datetime,
        timestamp: int,
    ) -> Job:
        if sub is None or getattr(sub, "inactive", False):
            return Job(
                delivery_id,
                token,
                attempts,
                event_created_at,
                getattr(sub, "id", ""),
                "",
                "",
                False,
                body,
                {},
                skip_reason="The subscription is inactive.",
            )
        secrets = signing_secrets(
            sub.secret, sub.previous_secret, sub.previous_secret_expires_at, now
        )
        return Job(
            delivery_id=delivery_id,
            token=token,
            attempts=attempts,
            event_created_at=event_created_at,
            subscription_id=sub.id,
            endpoint=sub.endpoint,
            tls_cert=sub.tls_cert,
            skip_tls_verification=sub.skip_tls_verification,
            body=body,
            headers=headers_for(secrets, event_id, timestamp, body, JSON_HEADERS),
        )

    async def _load_jobs(
        self, session: AsyncSession, token: str, rows: Any, now: datetime
    ) -> list[Job]:
        sub_ids = {r.subscription_id for r in rows}
        seqs = {r.event_seq for r in rows}
        # Core rows, not ORM objects: this runs for every claimed batch.
        subs = {
            s.id: s
            for s in (
                await session.execute(
                    select(
                        _SUBS.c.id,
                        _SUBS.c.inactive,
                        _SUBS.c.endpoint,
                        _SUBS.c.tls_cert,
                        _SUBS.c.skip_tls_verification,
                        _SUBS.c.secret,
                        _SUBS.c.previous_secret,
                        _SUBS.c.previous_secret_expires_at,
                        _SUBS.c.author_id,
                        _SUBS.c.event_type,
                        _SUBS.c.key,
                    ).where(_SUBS.c.id.in_(sub_ids))
                )
            ).all()
        }
        # A retry is sent only while the author may still subscribe (as at dispatch).
        lost = await deactivate_lost(session, (s for s in subs.values() if not s.inactive))
        if lost:
            log.warning("webhook.subscription.author_lost_access", extra={"count": len(lost)})
        payloads = {
            seq: payload
            for seq, payload in (
                await session.execute(
                    select(OutboxEvent.seq, OutboxEvent.payload).where(OutboxEvent.seq.in_(seqs))
                )
            ).all()
        }
        bodies: dict[int, bytes] = {}
        timestamp = int(time.time())
        jobs: list[Job] = []
        for r in rows:
            body = bodies.get(r.event_seq)
            if body is None:
                body = bodies[r.event_seq] = encode_body(payloads.get(r.event_seq, {}))
            job = self._job(
                token,
                r.id,
                r.attempts,
                r.event_created_at,
                r.event_id,
                subs.get(r.subscription_id),
                body,
                now,
                timestamp,
            )
            if not job.subscription_id:
                job.subscription_id = r.subscription_id
            if r.subscription_id in lost:
                job.skip_reason = lost[r.subscription_id]
            jobs.append(job)
        return jobs

    async def _send(self, job: Job, ep: _Endpoint) -> None:
        try:
            result = await attempt(
                self.transport,
                job.endpoint,
                job.body,
                job.headers,
                tls_cert=job.tls_cert,
                skip_tls_verification=job.skip_tls_verification,
            )
        except Exception as exc:  # never lose a claimed delivery to a bug in the send path
            log.exception("webhook.delivery.crashed")
            result = AttemptResult(None, ErrorKind.NETWORK, f"internal error: {exc}"[:500], 0.0, "")
        finally:
            self._slot_freed(job, ep)
        self._results.append((job, result, utcnow()))
        if len(self._results) >= FLUSH_BATCH:
            self._flush.set()

    async def run_recorder(self) -> None:
        try:
            while True:
                self._flush.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._flush.wait(), FLUSH_INTERVAL)
                await self.flush()
                if time.monotonic() - self._renewed_at >= self.settings.webhook_lease_seconds / 3:
                    await self.renew_leases()
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.flush())

    async def renew_leases(self) -> None:
        """Push the lease of every held delivery forward: one waiting for its endpoint's slot
        (or sending longer than a lease) is not claimed again by anyone meanwhile."""
        self._renewed_at = time.monotonic()
        if not self._held:
            return
        until = utcnow() + timedelta(seconds=self.settings.webhook_lease_seconds)
        rows = [
            {"b_id": job.delivery_id, "b_token": job.token, "b_next": until}
            for job in self._held.values()
        ]
        try:
            async with self.sessionmaker() as session:
                await session.execute(
                    update(_DELIVERIES)
                    .where(
                        _DELIVERIES.c.id == bindparam("b_id"),
                        _DELIVERIES.c.lease_token == bindparam("b_token"),
                    )
                    .values(next_attempt_at=bindparam("b_next")),
                    rows,
                )
                await session.commit()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("webhook.lease_renewal.failed", extra={"count": len(rows)})

    async def flush(self) -> None:
        if not self._results and not self._handed_back:
            return
        batch, self._results = self._results, []
        back, self._handed_back = self._handed_back, []
        try:
            await self._record(batch, back)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The leases will expire and the deliveries be retried: at-least-once.
            log.exception("webhook.record.failed", extra={"count": len(batch) + len(back)})

    async def _record(
        self,
        batch: list[tuple[Job, AttemptResult | None, datetime]],
        back: list[Job] | None = None,
    ) -> None:
        now = utcnow()
        attempt_rows: list[dict[str, Any]] = []
        # Counted per batch, then added to the metrics once per label.
        results: Counter[str] = Counter()
        outcomes: Counter[str] = Counter()
        delivery_rows: list[dict[str, Any]] = []
        attempt_seconds: list[float] = []
        delivery_seconds: list[float] = []
        per_sub: dict[str, list[tuple[datetime, bool, str, Decision]]] = {}
        for job, result, at in batch:
            if result is None:
                decision = Decision(Outcome.FAILED, reason=job.skip_reason)
                error = job.skip_reason
                status = None
            else:
                decision = decide(
                    attempt_number=job.attempts + 1,
                    status=result.status,
                    error_kind=result.error_kind,
                    schedule=self.schedule,
                    now=now,
                    retry_after=result.retry_after,
                )
                status = result.status
                error = result.error or ("" if result.ok else decision.reason)
                attempt_rows.append(
                    {
                        "delivery_id": job.delivery_id,
                        "attempted_at": at,
                        "status_code": status,
                        "latency_ms": round(result.latency_ms, 3),
                        "outcome": decision.outcome.value,
                        "error": error,
                        "response_excerpt": result.excerpt,
                    }
                )
                results[
                    metrics.result_label(status, result.error_kind and result.error_kind.value)
                ] += 1
                attempt_seconds.append(result.latency_ms / 1000)
                per_sub.setdefault(job.subscription_id, []).append((at, result.ok, error, decision))
            outcomes[decision.outcome.value] += 1
            delivered = decision.outcome is Outcome.DELIVERED
            if delivered:
                delivery_seconds.append(max(0.0, (at - job.event_created_at).total_seconds()))
            delivery_rows.append(
                {
                    "b_id": job.delivery_id,
                    "b_token": job.token,
                    "b_status": "pending"
                    if decision.outcome is Outcome.RETRY
                    else ("delivered" if delivered else "failed"),
                    "b_attempts": job.attempts + (0 if result is None else 1),
                    "b_next": decision.next_attempt_at or now,
                    "b_updated": now,
                    "b_code": status,
                    "b_error": "" if delivered else (error or decision.reason),
                    "b_delivered": at if delivered else None,
                }
            )
        metrics.observe_many(metrics.ATTEMPT_SECONDS, attempt_seconds)
        metrics.observe_many(metrics.DELIVERY_LATENCY, delivery_seconds)
        for label, n in results.items():
            metrics.ATTEMPTS.labels(label).inc(n)
        for label, n in outcomes.items():
            metrics.DELIVERIES.labels(label).inc(n)
        handed_back = [
            {
                "b_id": job.delivery_id,
                "b_token": job.token,
                "b_next": now + timedelta(seconds=HAND_BACK_SECONDS),
            }
            for job in back or ()
        ]
        async with self.sessionmaker() as session:
            if attempt_rows:
                await session.execute(_ATTEMPTS.insert(), attempt_rows)
            if handed_back:
                # Not attempted: due again shortly, for whichever worker has room then.
                await session.execute(
                    update(_DELIVERIES)
                    .where(
                        _DELIVERIES.c.id == bindparam("b_id"),
                        _DELIVERIES.c.lease_token == bindparam("b_token"),
                    )
                    .values(next_attempt_at=bindparam("b_next"), lease_token=None),
                    handed_back,
                )
            if not delivery_rows:
                await session.commit()
                return
            await session.execute(
                update(_DELIVERIES)
                .where(
                    _DELIVERIES.c.id == bindparam("b_id"),
                    _DELIVERIES.c.lease_token == bindparam("b_token"),
                )
                .values(
                    status=bindparam("b_status"),
                    attempts=bindparam("b_attempts"),
                    next_attempt_at=bindparam("b_next"),
                    lease_token=None,
                    updated_at=bindparam("b_updated"),
                    last_status_code=bindparam("b_code"),
                    last_error=bindparam("b_error"),
                    delivered_at=bindparam("b_delivered"),
                ),
                delivery_rows,
            )
            await self._record_subscriptions(session, per_sub)
            await session.commit()

    async def _record_subscriptions(
        self,
        session: AsyncSession,
        per_sub: dict[str, list[tuple[datetime, bool, str, Decision]]],
    ) -> None:
        reset: list[dict[str, Any]] = []
        bump: list[dict[str, Any]] = []
        deactivate: list[dict[str, Any]] = []
        for sub_id, results in per_sub.items():
            results.sort(key=lambda r: r[0])
            last_at = results[-1][0]
            last_error = "" if results[-1][1] else results[-1][2]
            successes = [r[0] for r in results if r[1]]
            if successes:
                trailing = 0
                for r in reversed(results):
                    if r[1]:
                        break
                    trailing += 1
                reset.append(
                    {
                        "b_id": sub_id,
                        "b_success": max(successes),
                        "b_failures": trailing,
                        "b_error": last_error,
                        "b_at": last_at,
                    }
                )
            else:
                bump.append(
                    {"b_id": sub_id, "b_n": len(results), "b_error": last_error, "b_at": last_at}
                )
            gone = [r for r in results if r[3].outcome is Outcome.DEACTIVATED]
            if gone:
                deactivate.append({"b_id": sub_id, "b_reason": gone[-1][3].reason})
        if reset:
            await session.execute(
                update(_SUBS)
                .where(_SUBS.c.id == bindparam("b_id"))
                .values(
                    last_successful_at=bindparam("b_success"),
                    consecutive_failures=bindparam("b_failures"),
                    last_error=bindparam("b_error"),
                    last_attempt_at=bindparam("b_at"),
                ),
                reset,
            )
        if bump:
            await session.execute(
                update(_SUBS)
                .where(_SUBS.c.id == bindparam("b_id"))
                .values(
                    consecutive_failures=_SUBS.c.consecutive_failures + bindparam("b_n"),
                    last_error=bindparam("b_error"),
                    last_attempt_at=bindparam("b_at"),
                ),
                bump,
            )
        if deactivate:
            await session.execute(
                update(_SUBS)
                .where(_SUBS.c.id == bindparam("b_id"))
                .values(inactive=True, inactive_reason=bindparam("b_reason")),
                deactivate,
            )
            log.warning("webhook.subscription.deactivated", extra={"count": len(deactivate)})

    async def run_deliverer(self) -> None:
        recorder = asyncio.create_task(self.run_recorder())
        try:
            await run_forever(
                "webhook.deliver",
                self.claim_step,
                wake=self.deliveries_wake,
                poll_interval=POLL_INTERVAL,
            )
        finally:
            self._closing = True
            # Deliveries still waiting for a slot were not sent: hand them back at once rather
            # than leave them to their leases.
            for ep in self._endpoints.values():
                self._handed_back.extend(ep.waiting)
                ep.waiting.clear()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            recorder.cancel()
            await asyncio.gather(recorder, return_exceptions=True)

    async def run(self) -> None:
        """Dispatcher, deliverer and the retention of old events and deliveries, until
        cancelled."""
        await asyncio.gather(
            self.run_dispatcher(),
            self.run_deliverer(),
            run_retention(self.settings, self.sessionmaker),
        )


async def run_workers(services: Any) -> None:
    """The engine until cancelled: the `dockyard worker` process (which `dockyard serve` runs as
    its child), or a background task of the HTTP process when it delivers in-process."""
    transport = make_transport(services.settings)
    engine = DeliveryEngine(services.settings, services.sessionmaker, transport)
    sock = wakeups.listen(services.settings.data_dir, engine.dispatch_wake)

    async def probe() -> None:
        # Reads a table the engine needs: an unmigrated or unreachable database fails here.
        async with services.sessionmaker() as session:
            await session.execute(select(Subscription.id).limit(1))

    heartbeat = asyncio.create_task(
        liveness.beat_forever(
            services.settings.data_dir, services.settings.health_heartbeat_timeout, probe
        )
    )
    log.info("webhook.workers.started")
    try:
        await engine.run()
    finally:
        heartbeat.cancel()
        await asyncio.gather(heartbeat, return_exceptions=True)
        wakeups.close(sock)
        await transport.close()


def main(settings: Settings) -> None:
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
            await run_workers(services)
        finally:
            await services.close()

    with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
        uvloop.run(run())
