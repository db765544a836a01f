"""The pure retry policy, branch by branch."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from dockyard.webhooks.retry import ErrorKind, Outcome, decide, parse_retry_after

NOW = datetime(2024, 1, 1, tzinfo=UTC)
SCHEDULE = [5.0, 60.0, 300.0]


def run(
    status: int | None, kind: ErrorKind | None = None, n: int = 1, ra: str | None = None
) -> object:
    return decide(
        attempt_number=n,
        status=status,
        error_kind=kind,
        schedule=SCHEDULE,
        now=NOW,
        retry_after=ra,
        rng=random.Random(1),
    )


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_2xx_delivers(status: int) -> None:
    assert run(status).outcome is Outcome.DELIVERED  # type: ignore[attr-defined]


def test_410_deactivates() -> None:
    d = run(410)
    assert d.outcome is Outcome.DEACTIVATED and "410" in d.reason  # type: ignore[attr-defined]


@pytest.mark.parametrize("status", [301, 302, 400, 401, 403, 404, 409, 422])
def test_other_statuses_fail_at_once(status: int) -> None:
    assert run(status).outcome is Outcome.FAILED  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (408, None),
        (429, None),
        (500, None),
        (502, None),
        (503, None),
        (599, None),
        (None, ErrorKind.NETWORK),
        (None, ErrorKind.TIMEOUT),
        (None, ErrorKind.TLS),
    ],
)
def test_retryable(status: int | None, kind: ErrorKind | None) -> None:
    d = run(status, kind)
    assert d.outcome is Outcome.RETRY  # type: ignore[attr-defined]
    delay = (d.next_attempt_at - NOW).total_seconds()  # type: ignore[attr-defined]
    assert 4.5 <= delay <= 5.5  # first delay with ±10 % jitter


def test_blocked_is_not_retried() -> None:
    assert run(None, ErrorKind.BLOCKED).outcome is Outcome.FAILED  # type: ignore[attr-defined]


def test_schedule_advances_then_gives_up() -> None:
    d2 = run(500, n=2)
    assert 54 <= (d2.next_attempt_at - NOW).total_seconds() <= 66  # type: ignore[attr-defined]
    d4 = run(500, n=4)
    assert d4.outcome is Outcome.FAILED and "4 attempts" in d4.reason  # type: ignore[attr-defined]


def test_retry_after_is_honoured_and_capped() -> None:
    d = run(429, ra="120")
    assert (d.next_attempt_at - NOW).total_seconds() == 120  # type: ignore[attr-defined]
    d = run(503, ra="9999999")
    assert (d.next_attempt_at - NOW) == timedelta(hours=24)  # type: ignore[attr-defined]
    # Retry-After shorter than the schedule does not shorten it
    d = run(429, ra="1")
    assert (d.next_attempt_at - NOW).total_seconds() >= 4.5  # type: ignore[attr-defined]


def test_parse_retry_after() -> None:
    assert parse_retry_after("30", NOW) == 30
    assert parse_retry_after("Mon, 01 Jan 2024 00:01:00 GMT", NOW) == 60
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None


def test_needs_status_or_error() -> None:
    with pytest.raises(ValueError):
        run(None, None)
