"""The retry policy, pure: given one attempt's result, say what happens next.

No I/O, no clock of its own (the caller passes `now` and a random source), so every branch is
unit-testable. 2xx delivers; 410 deactivates the subscription; 408, 429, 5xx and transport
errors (network, timeout, TLS) are retried on the configured schedule with jitter, honouring
`Retry-After`; any other status (3xx included: redirects are never followed) fails at once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum

# Retry-After is honoured, but a receiver cannot park a delivery for longer than this.
MAX_RETRY_AFTER = 24 * 3600.0
JITTER = 0.1


class Outcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"
    DEACTIVATED = "deactivated"


class ErrorKind(StrEnum):
    """Why an attempt got no HTTP status."""

    NETWORK = "network"
    TIMEOUT = "timeout"
    TLS = "tls"
    BLOCKED = "blocked"  # SSRF policy: never retried, the operator must change the setting


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    next_attempt_at: datetime | None = None
    reason: str = ""


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def is_retryable_status(status: int) -> bool:
    return status in (408, 429) or 500 <= status <= 599


def decide(
    *,
    attempt_number: int,
    status: int | None,
    error_kind: ErrorKind | None,
    schedule: list[float],
    now: datetime,
    retry_after: str | None = None,
    rng: random.Random | None = None,
) -> Decision:
    """`attempt_number` counts this attempt (1 for the first). The schedule holds the delays
    before the 2nd, 3rd, ... attempt; when it is used up the delivery fails."""
    if status is not None and 200 <= status <= 299:
        return Decision(Outcome.DELIVERED)
    if status == 410:
        return Decision(Outcome.DEACTIVATED, reason="The endpoint answered 410 Gone.")
    if status is not None and not is_retryable_status(status):
        return Decision(Outcome.FAILED, reason=f"The endpoint answered {status}.")
    if error_kind is ErrorKind.BLOCKED:
        return Decision(Outcome.FAILED, reason="The endpoint resolves to a blocked network.")
    if status is None and error_kind is None:
        raise ValueError("an attempt has either a status or an error kind")
    if attempt_number > len(schedule):
        return Decision(
            Outcome.FAILED, reason=f"Gave up after {attempt_number} attempts (schedule used up)."
        )
    delay = schedule[attempt_number - 1]
    jitter = (rng or random).uniform(-JITTER, JITTER)
    delay = max(0.0, delay * (1.0 + jitter))
    if status in (429, 503):
        wait = parse_retry_after(retry_after, now)
        if wait is not None:
            delay = max(delay, min(wait, MAX_RETRY_AFTER))
    return Decision(Outcome.RETRY, next_attempt_at=now + timedelta(seconds=delay))
