"""The send stage: per-endpoint slots and backlogs, and the sending itself.

Fairness: a slow endpoint may only slow itself. Each endpoint (origin) has
`webhook_max_per_endpoint` sending slots and a bounded backlog of deliveries waiting for one;
only sending deliveries count against `webhook_concurrency`. An endpoint with its slots taken
is busy: the claim skips its subscriptions (`plan_claim`) and refills its backlog with a claim
of its own when half of it has drained. A delivery that arrives for an endpoint with no place
left is handed back (due again shortly, no attempt counted).

Leases: a delivery waits for its slot under a lease the claim stage renews; one whose lease
was lost (reclaimed elsewhere after a failed renewal) is dropped unsent (`drop`), and one whose
lease is about to end (its renewals failing) is handed back rather than started.

Results and hand-backs go to the record stage's buffer; signing happened when the job was built
(`job.py`), the request is `delivery.attempt` over the shared transport. No database here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from urllib.parse import urlsplit

from dockyard.clock import utcnow
from dockyard.config import Settings
from dockyard.webhooks.delivery import AttemptResult, attempt
from dockyard.webhooks.job import Job
from dockyard.webhooks.record import Recorder
from dockyard.webhooks.retry import ErrorKind
from dockyard.webhooks.transport import Transport

log = logging.getLogger(__name__)

# Deliveries taken by one general claim at most (a busy endpoint's backlog is sized from it).
CLAIM_BATCH = 200
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
class Endpoint:
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
def origin_of(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{(parts.netloc or '').lower()}"


class Sender:
    def __init__(self, settings: Settings, transport: Transport, recorder: Recorder) -> None:
        self.transport = transport
        self.recorder = recorder
        self.max_inflight = max(1, settings.webhook_concurrency)
        # Deliveries sending (each holds an endpoint slot); those waiting for one are not
        # counted here, so a slow endpoint's queue cannot take other endpoints' places.
        self.inflight = 0
        # Set when a busy endpoint should be refilled now (the claim stage waits on it).
        self.claim_wake = asyncio.Event()
        self.room = asyncio.Event()
        self.tasks: set[asyncio.Task[None]] = set()
        self.closing = False
        # Slots per origin: a delivery waits here, cheaply, rather than inside aiohttp, where
        # a queued request already holds its request object and its timeout (so its time in
        # the queue counted against the total timeout).
        self.per_endpoint = max(1, settings.webhook_max_per_endpoint)
        self.endpoints: dict[str, Endpoint] = {}
        # Endpoints with a free slot whose waiting deliveries wait for a global place.
        self._starved: dict[str, Endpoint] = {}
        # Every delivery held (waiting or sending), by id: its lease is renewed until recorded.
        self.held: dict[str, Job] = {}
        self._reserved = 0
        self.lease_seconds = float(settings.webhook_lease_seconds)

    @property
    def backlog(self) -> int:
        """Deliveries one endpoint may have waiting for a slot: enough to keep a fast receiver
        busy between refills, and never more than the global places."""
        return max(self.per_endpoint, min(2 * CLAIM_BATCH, self.max_inflight))

    @property
    def refill_at(self) -> int:
        """Free places at which a busy endpoint's backlog is refilled."""
        return max(1, min(CLAIM_BATCH, self.backlog // 2))

    @property
    def endpoint_capacity(self) -> int:
        """Deliveries one endpoint may hold: its slots and its backlog."""
        return self.per_endpoint + self.backlog

    @property
    def held_capacity(self) -> int:
        """Deliveries the engine holds at most: one full endpoint leaves room for the rest."""
        return 2 * (self.max_inflight + self.backlog)

    @property
    def held_total(self) -> int:
        return len(self.held) + self._reserved

    @property
    def free_places(self) -> int:
        """Deliveries a claim may take now."""
        return min(self.max_inflight - self.inflight, self.held_capacity - self.held_total)

    async def wait_for_room(self) -> None:
        """Until a place frees, or a second passes."""
        self.room.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.room.wait(), 1.0)

    def endpoint(self, endpoint: str) -> tuple[str, Endpoint]:
        origin = origin_of(endpoint)
        ep = self.endpoints.get(origin)
        if ep is None:
            ep = self.endpoints[origin] = Endpoint()
        return origin, ep

    @property
    def busy(self) -> bool:
        """Some endpoint has all its slots taken (its refills are looked at by the claim)."""
        return any(ep.held >= self.per_endpoint for ep in self.endpoints.values())

    def _full(self, ep: Endpoint) -> bool:
        return ep.held >= self.endpoint_capacity or self.held_total >= self.held_capacity

    # -- hand-offs: places reserved while the dispatcher commits ----------------------------

    def reserve(self, subscription_id: str, endpoint: str) -> Endpoint | None:
        """A place for a new delivery handed to this engine, or None (left in the queue, due
        now) while its endpoint has no room. The claimer, running while the dispatch commits,
        sees the place taken and leaves that endpoint to its own refills."""
        _origin, ep = self.endpoint(endpoint)
        ep.subscriptions.add(subscription_id)
        if self._full(ep):
            ep.more = True
            return None
        ep.reserved += 1
        self._reserved += 1
        return ep

    def release(self, reserved: list[Endpoint]) -> None:
        """Give back reserved places (their jobs are started next, or were never inserted)."""
        for ep in reserved:
            ep.reserved -= 1
        self._reserved -= len(reserved)

    # -- the claim's plan ---------------------------------------------------------------

    def plan_claim(self) -> tuple[list[str], list[tuple[Endpoint, int]]]:
        """The subscriptions the general claim skips (those of busy endpoints), and the busy
        endpoints to refill now, with how many each may take."""
        skipped: list[str] = []
        refills: list[tuple[Endpoint, int]] = []
        refilled: list[str] = []
        now = time.monotonic()
        for origin, ep in list(self.endpoints.items()):
            if ep.held == 0:
                del self.endpoints[origin]  # idle: learnt again when next used
                continue
            if ep.held < self.per_endpoint:
                continue  # not busy
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
            self.endpoints[origin] = self.endpoints.pop(origin)
        return skipped[:MAX_SKIPPED_SUBSCRIPTIONS], refills

    def note_more(self, jobs: Iterable[Job]) -> None:
        """A full general claim: more is likely due for these endpoints. Once busy they are
        skipped by the general claim, so their own refill must know to come."""
        for job in jobs:
            known = self.endpoints.get(origin_of(job.endpoint))
            if known is not None:
                known.more = True

    # -- admission and sending ----------------------------------------------------------

    def start(self, jobs: list[Job], now: datetime) -> int:
        """Send, queue or hand back each job; returns how many were not handed back."""
        taken = 0
        lease_ends = time.monotonic() + self.lease_seconds
        for job in jobs:
            job.lease_ends = lease_ends
            if job.skip_reason:
                self.recorder.add(job, None, now)
                taken += 1
            elif self._admit(job):
                taken += 1
        return taken

    def _admit(self, job: Job) -> bool:
        origin, ep = self.endpoint(job.endpoint)
        ep.subscriptions.add(job.subscription_id)
        if self._full(ep):
            self.recorder.hand_back([job])
            ep.more = True
            return False
        self.held[job.delivery_id] = job
        ep.waiting.append(job)
        self._start_waiting(origin, ep)
        return True

    def _start_waiting(self, origin: str, ep: Endpoint) -> None:
        while ep.waiting and ep.sending < self.per_endpoint and self.inflight < self.max_inflight:
            self._launch(ep.waiting.popleft(), ep)
        if ep.waiting and ep.sending < self.per_endpoint:
            self._starved[origin] = ep
        else:
            self._starved.pop(origin, None)

    def _launch(self, job: Job, ep: Endpoint) -> None:
        if job.lease_ends and job.lease_ends - time.monotonic() < self.lease_seconds / 3:
            # Renewed every third of a lease, so a lease this short means renewals fail: it
            # could end while the attempt runs and another worker claim it. Back to the queue,
            # unsent, for whoever holds it next.
            self.held.pop(job.delivery_id, None)
            self.recorder.hand_back([job])
            return
        ep.sending += 1
        self.inflight += 1
        task = asyncio.create_task(self._send(job, ep))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _send(self, job: Job, ep: Endpoint) -> None:
        try:
            result = await attempt(
                self.transport,
                job.endpoint,
                job.body,
                job.headers,
                tls_cert=job.tls_cert,
                skip_tls_verification=job.skip_tls_verification,
                tls_client_sealed=job.tls_client_sealed,
            )
        except Exception as exc:  # never lose a claimed delivery to a bug in the send path
            log.exception("webhook.delivery.crashed")
            result = AttemptResult(None, ErrorKind.NETWORK, f"internal error: {exc}"[:500], 0.0, "")
        finally:
            self._slot_freed(job, ep)
        self.recorder.add(job, result, utcnow())

    def _slot_freed(self, job: Job, ep: Endpoint) -> None:
        ep.sending -= 1
        self.inflight -= 1
        self.held.pop(job.delivery_id, None)
        if self.closing:
            return
        # The freed slot goes to this endpoint's next delivery; a freed global place to the
        # endpoints that waited for one.
        self._start_waiting(origin_of(job.endpoint), ep)
        for origin, other in list(self._starved.items()):
            if self.inflight >= self.max_inflight:
                break
            self._start_waiting(origin, other)
        if ep.more and self.endpoint_capacity - ep.held == self.refill_at:
            # Half its backlog sent and more is due: refill it now rather than at the poll.
            self.claim_wake.set()
        self.room.set()

    def drop(self, delivery_ids: set[str]) -> None:
        """Forget the waiting deliveries whose lease is no longer ours: another worker holds
        them now (those already sending cannot be called back)."""
        dropped = 0
        for ep in self.endpoints.values():
            keep: deque[Job] = deque()
            for job in ep.waiting:
                if job.delivery_id in delivery_ids:
                    self.held.pop(job.delivery_id, None)
                    dropped += 1
                else:
                    keep.append(job)
            ep.waiting = keep
        log.warning("webhook.lease.lost", extra={"count": len(delivery_ids), "dropped": dropped})

    async def close(self) -> None:
        """Stop: deliveries still waiting for a slot were not sent, so they are handed back at
        once rather than left to their leases; the sends in flight are cancelled."""
        self.closing = True
        for ep in self.endpoints.values():
            self.recorder.hand_back(ep.waiting)
            ep.waiting.clear()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
