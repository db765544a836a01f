"""dockyard.kit.ratelimit: N hits per window per key, bounded memory.

`limits` reads `time.time()`, so the clock is moved by patching it (no sleeping)."""

from __future__ import annotations

import time

import pytest

from dockyard.kit.ratelimit import RateLimit


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [2_000_000.0]
    monkeypatch.setattr(time, "time", lambda: now[0])
    return now


def test_moving_window_counts_the_last_seconds(clock: list[float]) -> None:
    limit = RateLimit(2, 60)
    assert limit.hit("a") and limit.hit("a")
    assert not limit.hit("a")
    assert limit.hit("b")  # keys are independent
    wait = limit.retry_after("a")
    assert wait is not None and 59 < wait <= 60
    clock[0] += 30
    assert not limit.hit("a")
    clock[0] += 31
    assert limit.retry_after("a") is None
    assert limit.hit("a")


def test_fixed_window_starts_at_the_first_hit(clock: list[float]) -> None:
    limit = RateLimit(1, 120, window="fixed")
    assert limit.hit("a")
    clock[0] += 100
    wait = limit.retry_after("a")
    assert wait is not None and 19 < wait <= 20
    clock[0] += 21
    assert limit.hit("a")


def test_clear_forgets_a_key(clock: list[float]) -> None:
    limit = RateLimit(1, 60)
    limit.hit("a", "x")
    assert limit.retry_after("a", "x") is not None
    limit.clear("a", "x")
    assert limit.retry_after("a", "x") is None


def test_keys_are_forgotten_after_their_window(clock: list[float]) -> None:
    limit = RateLimit(5, 60)
    for i in range(10):
        limit.hit(f"k{i}")
    assert len(limit) == 10
    clock[0] += 61
    limit.hit("new")
    assert len(limit) == 1


def test_a_flood_of_distinct_keys_is_bounded(clock: list[float]) -> None:
    limit = RateLimit(1, 60, max_keys=10)
    for i in range(100):
        limit.hit(f"k{i}")
        assert len(limit) <= 10
