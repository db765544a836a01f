"""The record stage: what a batch of attempts means (`summarize`, pure) and the one writer that
stores it (`write`: attempts, deliveries, subscription health and hand-backs, in short
transactions of at most WRITE_CHUNK deliveries), with the buffer the send stage fills (`Recorder`).

Results are recorded 0.1 s after the first one arrives, or at once when 1,000 are waiting: few,
short write transactions leave the SQLite write lock free for pushes most of the time; with
nothing sent, the recorder sleeps. A delivery deleted while it was being
sent (its subscription, repository or account deleted) gets no attempt row: the rest of the
batch is recorded. No HTTP here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dockyard.clock import utcnow
from dockyard.webhooks import metrics
from dockyard.webhooks.delivery import AttemptResult
from dockyard.webhooks.job import Job
from dockyard.webhooks.models import Delivery, DeliveryAttempt, Subscription
from dockyard.webhooks.retry import Decision, Outcome, decide

log = logging.getLogger(__name__)

_DELIVERIES: Table = Delivery.__table__  # type: ignore[assignment]
_ATTEMPTS: Table = DeliveryAttempt.__table__  # type: ignore[assignment]
_SUBS: Table = Subscription.__table__  # type: ignore[assignment]

FLUSH_INTERVAL = 0.1
FLUSH_BATCH = 1000
# Results are written in transactions of at most this many deliveries, WRITE_PAUSE apart.
WRITE_CHUNK = 250
WRITE_PAUSE = 0.005
# A delivery taken while its endpoint has no place left is handed back, due again after this.
HAND_BACK_SECONDS = 0.1
# The start of each request body kept in the delivery log (event payloads are far smaller).
MAX_LOGGED_BODY = 64 * 1024

# One attempt's result (None: not sent, failed with the job's skip reason), and when it ended.
Result = tuple[Job, AttemptResult | None, datetime]
# Per subscription: (when, succeeded, error, decision) of each of its attempts in the batch.
_Health = dict[str, list[tuple[datetime, bool, str, Decision]]]


@dataclass
class Summary:
    """Rows to write for one batch, and the figures for the metrics."""

    attempts: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    # Subscription health: a success resets the failure count, failures only add to it.
    reset: list[dict[str, Any]] = field(default_factory=list)
    bump: list[dict[str, Any]] = field(default_factory=list)
    deactivate: list[dict[str, Any]] = field(default_factory=list)
    results: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    attempt_seconds: list[float] = field(default_factory=list)
    delivery_seconds: list[float] = field(default_factory=list)


def summarize(batch: Iterable[Result], schedule: list[float], now: datetime) -> Summary:
    """What each result decides (`retry.decide`) and the rows that say so. No I/O."""
    out = Summary()
    health: _Health = {}
    for job, result, at in batch:
        if result is None:
            decision = Decision(Outcome.FAILED, reason=job.skip_reason)
            status, error = None, job.skip_reason
        else:
            decision = decide(
                attempt_number=job.attempts + 1,
                status=result.status,
                error_kind=result.error_kind,
                schedule=schedule,
                now=now,
                retry_after=result.retry_after,
            )
            status = result.status
            error = result.error or ("" if result.ok else decision.reason)
            out.attempts.append(_attempt_row(job, result, at, decision, error))
            kind = result.error_kind and result.error_kind.value
            out.results[metrics.result_label(status, kind)] += 1
            out.attempt_seconds.append(result.latency_ms / 1000)
            health.setdefault(job.subscription_id, []).append((at, result.ok, error, decision))
        out.outcomes[decision.outcome.value] += 1
        delivered = decision.outcome is Outcome.DELIVERED
        if delivered:
            out.delivery_seconds.append(max(0.0, (at - job.event_created_at).total_seconds()))
        out.deliveries.append(_delivery_row(job, result, at, decision, status, error, now))
    _summarize_health(health, out)
    return out


def _attempt_row(
    job: Job, result: AttemptResult, at: datetime, decision: Decision, error: str
) -> dict[str, Any]:
    return {
        "delivery_id": job.delivery_id,
        "attempted_at": at,
        "status_code": result.status,
        "latency_ms": round(result.latency_ms, 3),
        "outcome": decision.outcome.value,
        "error": error,
        "response_excerpt": result.excerpt,
        # The delivery log shows the request as sent (headers hold no secret, only its MAC).
        "request_headers": job.headers,
        "request_body": job.body[:MAX_LOGGED_BODY].decode("utf-8", "replace"),
    }


def _delivery_row(
    job: Job,
    result: AttemptResult | None,
    at: datetime,
    decision: Decision,
    status: int | None,
    error: str,
    now: datetime,
) -> dict[str, Any]:
    delivered = decision.outcome is Outcome.DELIVERED
    if decision.outcome is Outcome.RETRY:
        state = "pending"
    else:
        state = "delivered" if delivered else "failed"
    return {
        "b_id": job.delivery_id,
        "b_token": job.token,
        "b_status": state,
        "b_attempts": job.attempts + (0 if result is None else 1),
        "b_next": decision.next_attempt_at or now,
        "b_updated": now,
        "b_code": status,
        "b_error": "" if delivered else (error or decision.reason),
        "b_delivered": at if delivered else None,
    }


def _summarize_health(health: _Health, out: Summary) -> None:
    for sub_id, results in health.items():
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
            out.reset.append(
                {
                    "b_id": sub_id,
                    "b_success": max(successes),
                    "b_failures": trailing,
                    "b_error": last_error,
                    "b_at": last_at,
                }
            )
        else:
            out.bump.append(
                {"b_id": sub_id, "b_n": len(results), "b_error": last_error, "b_at": last_at}
            )
        gone = [r for r in results if r[3].outcome is Outcome.DEACTIVATED]
        if gone:
            out.deactivate.append({"b_id": sub_id, "b_reason": gone[-1][3].reason})


def observe(summary: Summary) -> None:
    """Add a batch's figures to the metrics, once per label."""
    metrics.observe_many(metrics.ATTEMPT_SECONDS, summary.attempt_seconds)
    metrics.observe_many(metrics.DELIVERY_LATENCY, summary.delivery_seconds)
    for label, n in summary.results.items():
        metrics.ATTEMPTS.labels(label).inc(n)
    for label, n in summary.outcomes.items():
        metrics.DELIVERIES.labels(label).inc(n)


def hand_back_rows(jobs: Iterable[Job], now: datetime) -> list[dict[str, Any]]:
    due = now + timedelta(seconds=HAND_BACK_SECONDS)
    return [{"b_id": job.delivery_id, "b_token": job.token, "b_next": due} for job in jobs]


def split(summary: Summary, size: int = WRITE_CHUNK) -> list[Summary]:
    """The batch's rows in parts of at most `size` deliveries (with their attempts); the
    subscriptions' health goes with the last part. Pure."""
    if len(summary.deliveries) <= size:
        return [summary]
    parts: list[Summary] = []
    for start in range(0, len(summary.deliveries), size):
        rows = summary.deliveries[start : start + size]
        ids = {row["b_id"] for row in rows}
        parts.append(
            Summary(
                attempts=[a for a in summary.attempts if a["delivery_id"] in ids],
                deliveries=rows,
            )
        )
    last = parts[-1]
    last.reset, last.bump, last.deactivate = summary.reset, summary.bump, summary.deactivate
    return parts


async def write(
    sessionmaker: async_sessionmaker[AsyncSession],
    summary: Summary,
    handed_back: list[dict[str, Any]],
) -> None:
    """Store a batch in short transactions of WRITE_CHUNK deliveries, pausing in between so
    the registry's own writes (pushes) get the SQLite write lock without waiting for the whole
    batch. A delivery deleted after its existing ids were read breaks the attempts' foreign
    key: that part is written again once, filtered anew."""
    for n, part in enumerate(split(summary)):
        if n:
            await asyncio.sleep(WRITE_PAUSE)
        back = handed_back if n == 0 else []
        try:
            await _write_once(sessionmaker, part, back)
        except IntegrityError:
            log.warning("webhook.record.retried", extra={"count": len(part.deliveries)})
            await _write_once(sessionmaker, part, back)


_BY_LEASE = (
    _DELIVERIES.c.id == bindparam("b_id"),
    _DELIVERIES.c.lease_token == bindparam("b_token"),
)


async def _write_once(
    sessionmaker: async_sessionmaker[AsyncSession],
    summary: Summary,
    handed_back: list[dict[str, Any]],
) -> None:
    async with sessionmaker() as session:
        if handed_back:
            # Not attempted: due again shortly, for whichever worker has room then.
            await session.execute(
                update(_DELIVERIES)
                .where(*_BY_LEASE)
                .values(next_attempt_at=bindparam("b_next"), lease_token=None),
                handed_back,
            )
        if summary.deliveries:
            # Updated first: on SQLite this takes the write lock, so no delete comes between
            # reading which deliveries exist and inserting their attempts.
            await session.execute(
                update(_DELIVERIES)
                .where(*_BY_LEASE)
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
                summary.deliveries,
            )
            await _insert_attempts(session, summary.attempts)
            await _write_health(session, summary)
        await session.commit()


async def _insert_attempts(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Attempt rows only for deliveries that still exist (a deleted subscription, repository
    or account deletes its deliveries while they may be in flight)."""
    if not rows:
        return
    existing = await _existing(session, {row["delivery_id"] for row in rows})
    kept = [row for row in rows if row["delivery_id"] in existing]
    if len(kept) < len(rows):
        log.info("webhook.record.deleted_deliveries", extra={"count": len(rows) - len(kept)})
    if kept:
        await session.execute(_ATTEMPTS.insert(), kept)


async def _existing(session: AsyncSession, ids: set[str]) -> set[str]:
    found = await session.scalars(select(_DELIVERIES.c.id).where(_DELIVERIES.c.id.in_(ids)))
    return set(found.all())


async def _write_health(session: AsyncSession, summary: Summary) -> None:
    if summary.reset:
        await session.execute(
            update(_SUBS)
            .where(_SUBS.c.id == bindparam("b_id"))
            .values(
                last_successful_at=bindparam("b_success"),
                consecutive_failures=bindparam("b_failures"),
                last_error=bindparam("b_error"),
                last_attempt_at=bindparam("b_at"),
            ),
            summary.reset,
        )
    if summary.bump:
        await session.execute(
            update(_SUBS)
            .where(_SUBS.c.id == bindparam("b_id"))
            .values(
                consecutive_failures=_SUBS.c.consecutive_failures + bindparam("b_n"),
                last_error=bindparam("b_error"),
                last_attempt_at=bindparam("b_at"),
            ),
            summary.bump,
        )
    if summary.deactivate:
        await session.execute(
            update(_SUBS)
            .where(_SUBS.c.id == bindparam("b_id"))
            .values(inactive=True, inactive_reason=bindparam("b_reason")),
            summary.deactivate,
        )
        log.warning("webhook.subscription.deactivated", extra={"count": len(summary.deactivate)})


class Recorder:
    """The buffer between sending and writing: results and hand-backs, flushed together."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], schedule: list[float]
    ) -> None:
        self.sessionmaker = sessionmaker
        self.schedule = schedule
        self.results: list[Result] = []
        self.handed_back: list[Job] = []
        self.due = asyncio.Event()  # flush now: the buffer is full, or a hand-back waits
        self.filled = asyncio.Event()  # the buffer is no longer empty

    def add(self, job: Job, result: AttemptResult | None, at: datetime) -> None:
        self.results.append((job, result, at))
        self.filled.set()
        if len(self.results) >= FLUSH_BATCH:
            self.due.set()

    def hand_back(self, jobs: Iterable[Job]) -> None:
        self.handed_back.extend(jobs)
        if self.handed_back:
            self.filled.set()
            self.due.set()

    @property
    def empty(self) -> bool:
        return not self.results and not self.handed_back

    async def wait(self, idle_timeout: float | None = None) -> None:
        """Until a flush is due: FLUSH_INTERVAL after the first result, or at once when the
        buffer is full or a hand-back waits. While the buffer is empty, sleep until something
        arrives or `idle_timeout` passes (None: no limit)."""
        if self.empty:
            self.filled.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.filled.wait(), idle_timeout)
            if self.empty:
                return
        self.due.clear()
        if len(self.results) < FLUSH_BATCH and not self.handed_back:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.due.wait(), FLUSH_INTERVAL)

    async def flush(self) -> bool:
        """Record the buffer; True when it wrote deliveries due again (retries, hand-backs)."""
        if self.empty:
            return False
        batch, self.results = self.results, []
        back, self.handed_back = self.handed_back, []
        try:
            return await self.record(batch, back)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The leases will expire and the deliveries be retried: at-least-once.
            log.exception("webhook.record.failed", extra={"count": len(batch) + len(back)})
            return False

    async def record(self, batch: list[Result], back: list[Job]) -> bool:
        now = utcnow()
        summary = summarize(batch, self.schedule, now)
        observe(summary)
        await write(self.sessionmaker, summary, hand_back_rows(back, now))
        return bool(back) or summary.outcomes[Outcome.RETRY.value] > 0
