"""Time: timezone-aware UTC everywhere, and timestamps as MSR writes them. No I/O here."""

from __future__ import annotations

from datetime import UTC, datetime

GO_ZERO_TIME = "0001-01-01T00:00:00Z"


def utcnow() -> datetime:
    return datetime.now(UTC)


def rfc3339(value: datetime | None, *, zero: str = GO_ZERO_TIME) -> str:
    """RFC 3339 UTC with fractional seconds and a `Z`, as MSR writes timestamps.

    A missing value renders as Go's zero time, which MSR clients expect for "never".
    """
    if value is None:
        return zero
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
