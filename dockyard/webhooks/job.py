"""The one job builder: what sending one delivery needs (endpoint, TLS, body, signed headers),
built from a delivery and its subscription row and event payload.

Used by both roads to a first send: the dispatcher's hand-offs and the claimer's reloads.
Bodies are encoded once per event for a whole batch. No database and no HTTP here.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dockyard.webhooks.formats import MSR, encode, headers_of
from dockyard.webhooks.signing import headers_for, secrets_in_use

INACTIVE = "The subscription is inactive."


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
    # Set when the delivery must not be sent: it fails with this reason, no attempt counted.
    skip_reason: str = ""
    # When its lease ends (time.monotonic()); set by the send stage when the job arrives (its
    # lease was just taken) and moved by each renewal. 0: not known yet.
    lease_ends: float = 0.0
    # The subscription's sealed client certificate and key for mutual TLS ("" = none).
    tls_client_sealed: str = ""


@dataclass(frozen=True)
class JobSource:
    """One delivery to turn into a job. `subscription` is a row with id, inactive (optional),
    endpoint, tls_cert, skip_tls_verification and the secrets, or None if it is gone."""

    delivery_id: str
    attempts: int
    event_seq: int
    event_id: str
    event_created_at: datetime
    subscription_id: str
    subscription: Any
    payload: Any
    skip_reason: str = ""


def build_jobs(token: str, sources: Iterable[JobSource], now: datetime) -> list[Job]:
    """Jobs leased under `token`, signed with one timestamp for the batch."""
    bodies: dict[tuple[int, str], bytes] = {}
    timestamp = int(time.time())
    jobs: list[Job] = []
    for src in sources:
        fmt = getattr(src.subscription, "format", None) or MSR
        body = bodies.get((src.event_seq, fmt))
        if body is None:
            body = bodies[(src.event_seq, fmt)] = encode(fmt, src.payload, src.event_id)
        job = _build(token, src, body, now, timestamp)
        if src.skip_reason:
            job.skip_reason = src.skip_reason
        jobs.append(job)
    return jobs


def _build(token: str, src: JobSource, body: bytes, now: datetime, timestamp: int) -> Job:
    sub = src.subscription
    if sub is None or getattr(sub, "inactive", False):
        return Job(
            src.delivery_id,
            token,
            src.attempts,
            src.event_created_at,
            src.subscription_id,
            "",
            "",
            False,
            body,
            {},
            skip_reason=INACTIVE,
        )
    secrets = secrets_in_use(sub.secret, sub.previous_secret, sub.previous_secret_expires_at, now)
    return Job(
        delivery_id=src.delivery_id,
        token=token,
        attempts=src.attempts,
        event_created_at=src.event_created_at,
        subscription_id=sub.id,
        endpoint=sub.endpoint,
        tls_cert=sub.tls_cert,
        skip_tls_verification=sub.skip_tls_verification,
        body=body,
        headers=headers_for(
            secrets, src.event_id, timestamp, body, headers_of(getattr(sub, "format", None) or MSR)
        ),
        tls_client_sealed=getattr(sub, "tls_client_sealed", None) or "",
    )
