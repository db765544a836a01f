"""`run_forever`'s pace: steps that keep finding work (a stream of small commits, each waking
every consumer) start at least `pace` apart; without a pace they follow at once. The clock and
the sleeps are the test's own, so nothing here depends on timing."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from dockyard.jobs import runner


class Stop(Exception):
    pass


def _run(pace: float, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits the runner asked for around three steps that each found work, on a clock that
    stands still (every step is instantaneous)."""
    monkeypatch.setattr(runner, "time", SimpleNamespace(monotonic=lambda: 100.0))
    real_sleep = asyncio.sleep
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    steps = 0

    async def step() -> int:
        nonlocal steps
        steps += 1
        if steps > 3:
            raise Stop
        return 1

    async def go() -> None:
        # A step error is logged and retried: stop through the cancellation instead.
        task = asyncio.ensure_future(runner.run_forever("t", step, wake=asyncio.Event(), pace=pace))
        while steps <= 3:
            await real_sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())
    return [w for w in waits if w > 0]


def test_steps_that_find_work_are_paced(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _run(0.25, monkeypatch)[:3] == [0.25, 0.25, 0.25]


def test_without_a_pace_they_follow_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only the error backoff after the test's stopping step waits.
    assert _run(0.0, monkeypatch)[:1] in ([], [0.1])
