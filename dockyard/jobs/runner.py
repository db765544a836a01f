"""Run a unit of background work forever: wake on a signal or poll, survive errors.

`step()` does one batch and returns how much it did; while it finds work it runs again at
once, otherwise it sleeps until woken or until the poll interval passes. With a `pace`, two
steps start at least that far apart: every commit that records an event wakes every outbox
consumer, so under a stream of small commits (pulls) an unpaced consumer would run one step per
commit, each a few queries for a handful of events, most of them of no interest to it; paced,
the same events are read in one step per `pace`. Generic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def run_forever(
    name: str,
    step: Callable[[], Awaitable[int]],
    *,
    wake: asyncio.Event | None = None,
    poll_interval: float = 0.5,
    max_error_backoff: float = 5.0,
    pace: float = 0.0,
) -> None:
    backoff = 0.1
    started = float("-inf")
    while True:
        if pace > 0:
            # Before clearing: the wake-ups that arrive meanwhile are served by this step.
            await asyncio.sleep(max(0.0, started + pace - time.monotonic()))
            started = time.monotonic()
        if wake is not None:
            wake.clear()
        try:
            done = await step()
            backoff = 0.1
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job.step.failed", extra={"job": name})
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, max_error_backoff)
            continue
        if done:
            await asyncio.sleep(0)
            continue
        if wake is None:
            await asyncio.sleep(poll_interval)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), poll_interval)
