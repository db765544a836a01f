"""Prometheus metrics of the webhook engine, in a registry of our own (served at /metrics).

Counters and histograms are per process, except under `dockyard serve`, which sets
PROMETHEUS_MULTIPROC_DIR so the delivery engine's child process and the HTTP process share them
(prometheus_client's multiprocess mode); the queue gauges are read from the database at scrape
time, so they are right whichever process runs the workers.
"""

from __future__ import annotations

import os
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.events.models import OutboxEvent
from dockyard.webhooks.models import Delivery

REGISTRY = CollectorRegistry(auto_describe=True)

DELIVERIES = Counter(
    "dockyard_webhook_deliveries",
    "Delivery attempts by what they led to (delivered, retry, failed, deactivated).",
    ["outcome"],
    registry=REGISTRY,
)
ATTEMPTS = Counter(
    "dockyard_webhook_attempts",
    "Delivery attempts by result (2xx, 4xx, 5xx, network, timeout, tls, blocked, ...).",
    ["result"],
    registry=REGISTRY,
)
EVENTS_DISPATCHED = Counter(
    "dockyard_webhook_events_dispatched",
    "Outbox events turned into deliveries.",
    registry=REGISTRY,
)
ATTEMPT_SECONDS = Histogram(
    "dockyard_webhook_attempt_duration_seconds",
    "Time from sending a delivery to the receiver's answer.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15),
    registry=REGISTRY,
)
DELIVERY_LATENCY = Histogram(
    "dockyard_webhook_delivery_latency_seconds",
    "Time from the event's creation to its successful delivery.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400),
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "dockyard_webhook_queue_depth",
    "Pending deliveries (due or scheduled).",
    registry=REGISTRY,
    multiprocess_mode="mostrecent",
)
OLDEST_PENDING = Gauge(
    "dockyard_webhook_oldest_pending_age_seconds",
    "Age of the oldest pending delivery (0 when none).",
    registry=REGISTRY,
    multiprocess_mode="mostrecent",
)
OUTBOX_BACKLOG = Gauge(
    "dockyard_webhook_outbox_undispatched",
    "Events not yet dispatched.",
    registry=REGISTRY,
    multiprocess_mode="mostrecent",
)


def observe_many(histogram: Histogram, values: list[float]) -> None:
    """Histogram.observe for each value of a batch, through prometheus_client's public API.

    There is no public bulk observation; counting per bucket through the histogram's private
    fields was about 50 times cheaper in multiprocess mode (about 5 µs an observation, one
    mmap write each for the sum and the bucket), which is some 3% of the delivery process at
    3,000 deliveries/s with two histograms.
    """
    for value in values:
        histogram.observe(value)


def result_label(status: int | None, error_kind: str | None) -> str:
    if status is not None:
        return f"{status // 100}xx"
    return error_kind or "error"


async def refresh_gauges(session: AsyncSession, now: datetime) -> None:
    depth, oldest = (
        await session.execute(
            select(func.count(), func.min(Delivery.created_at)).where(Delivery.status == "pending")
        )
    ).one()
    QUEUE_DEPTH.set(depth or 0)
    if oldest is not None and oldest.tzinfo is None:
        from datetime import UTC

        oldest = oldest.replace(tzinfo=UTC)
    OLDEST_PENDING.set(max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
    backlog = await session.scalar(
        select(func.count()).select_from(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None))
    )
    OUTBOX_BACKLOG.set(backlog or 0)


def exposition() -> bytes:
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)
