"""Login rate limiting: too many failed logins for one (user, address) pair block it briefly.

Counted per process in memory (a password-guessing client hits the same worker through its
keep-alive connection; with several workers the limit is per worker, still bounded). While
blocked, even a correct password is refused: otherwise guessing would simply continue.
No HTTP here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Entry:
    failures: list[float] = field(default_factory=list)
    blocked_until: float = 0.0


class LoginRateLimiter:
    def __init__(
        self,
        max_failures: int = 10,
        window_seconds: float = 300.0,
        block_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 65536,
    ) -> None:
        self.max_failures = max_failures
        self.window = window_seconds
        self.block = block_seconds
        self._clock = clock
        self._max_entries = max_entries
        self._entries: dict[tuple[str, str], _Entry] = {}

    def retry_after(self, name: str, address: str) -> float | None:
        """Seconds until the pair may try again, or None when it is not blocked."""
        entry = self._entries.get((name, address))
        if entry is None:
            return None
        remaining = entry.blocked_until - self._clock()
        return remaining if remaining > 0 else None

    def failed(self, name: str, address: str) -> None:
        now = self._clock()
        if len(self._entries) >= self._max_entries:
            self._prune(now)
        entry = self._entries.setdefault((name, address), _Entry())
        entry.failures = [t for t in entry.failures if now - t < self.window]
        entry.failures.append(now)
        if len(entry.failures) >= self.max_failures:
            entry.blocked_until = now + self.block
            entry.failures.clear()

    def succeeded(self, name: str, address: str) -> None:
        self._entries.pop((name, address), None)

    def _prune(self, now: float) -> None:
        stale = [
            key
            for key, entry in self._entries.items()
            if entry.blocked_until <= now and all(now - t >= self.window for t in entry.failures)
        ]
        for key in stale:
            del self._entries[key]
        if len(self._entries) >= self._max_entries:
            # Under a flood of distinct pairs, forget everything rather than grow without bound.
            self._entries.clear()
