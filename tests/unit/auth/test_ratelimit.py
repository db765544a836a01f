"""Login rate limiting per (user, address).

`limits` reads `time.time()`, so the clock is moved by patching it (no sleeping)."""

from __future__ import annotations

import time

import pytest

from dockyard.auth.ratelimit import LoginRateLimiter


class FakeClock:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = 1_000_000.0
        monkeypatch.setattr(time, "time", lambda: self.now)


def test_blocks_after_max_failures_and_unblocks_later(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock(monkeypatch)
    limiter = LoginRateLimiter(max_failures=3, window_seconds=60, block_seconds=120)
    for _ in range(2):
        limiter.failed("alice", "10.0.0.1")
        assert limiter.retry_after("alice", "10.0.0.1") is None
    limiter.failed("alice", "10.0.0.1")
    wait = limiter.retry_after("alice", "10.0.0.1")
    assert wait is not None and 119 < wait <= 120
    # Other users and other addresses are not affected.
    assert limiter.retry_after("bob", "10.0.0.1") is None
    assert limiter.retry_after("alice", "10.0.0.2") is None
    clock.now += 100
    wait = limiter.retry_after("alice", "10.0.0.1")
    assert wait is not None and 19 < wait <= 20
    clock.now += 21
    assert limiter.retry_after("alice", "10.0.0.1") is None


def test_failures_outside_the_window_do_not_count(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock(monkeypatch)
    limiter = LoginRateLimiter(max_failures=3, window_seconds=60, block_seconds=120)
    limiter.failed("alice", "a")
    limiter.failed("alice", "a")
    clock.now += 61
    limiter.failed("alice", "a")
    assert limiter.retry_after("alice", "a") is None
    limiter.failed("alice", "a")  # two in the last minute, then the third
    limiter.failed("alice", "a")
    assert limiter.retry_after("alice", "a") is not None


def test_success_resets_the_count() -> None:
    limiter = LoginRateLimiter(max_failures=2, window_seconds=60, block_seconds=60)
    limiter.failed("alice", "a")
    limiter.succeeded("alice", "a")
    limiter.failed("alice", "a")
    assert limiter.retry_after("alice", "a") is None


def test_memory_is_bounded() -> None:
    limiter = LoginRateLimiter(max_failures=5, max_entries=10)
    for i in range(100):
        limiter.failed(f"user{i}", "a")
    assert len(limiter) <= 20
