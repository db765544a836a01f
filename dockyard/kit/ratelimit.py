"""Rate limits counted in this process's memory (`limits`, in-memory storage).

One `RateLimit` is "at most N hits per W seconds for each key", over a moving window (the
last W seconds) or a fixed one (W seconds from the key's first hit). The number of keys is
bounded: a key is forgotten W seconds after its last hit, and under a flood of distinct keys
beyond `max_keys` everything is forgotten rather than memory growing without bound.
`limits` reads `time.time()`. No HTTP here.

Only for limits that may be per process: with several HTTP workers each counts on its own.
A limit that must hold for the whole registry (logins, webhook test sends) is counted in the
database instead, by `dockyard.db.shared_limits`.
"""

from __future__ import annotations

import threading
import time
from typing import Literal

from cachetools import TTLCache
from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter, RateLimiter

Key = tuple[str, ...]


class RateLimit:
    def __init__(
        self,
        amount: int,
        seconds: int,
        *,
        window: Literal["moving", "fixed"] = "moving",
        max_keys: int = 65536,
    ) -> None:
        self.amount = amount
        self.seconds = seconds
        self._item = RateLimitItemPerSecond(amount, seconds)
        self._storage = MemoryStorage()
        self._strategy: RateLimiter = (
            MovingWindowRateLimiter(self._storage)
            if window == "moving"
            else FixedWindowRateLimiter(self._storage)
        )
        # The keys hit in the last `seconds`: an expired one is cleared from the storage
        # (an in-memory moving window otherwise keeps an empty entry per key ever seen).
        self._max_keys = max_keys
        self._keys: TTLCache[Key, None] = TTLCache(
            maxsize=max_keys + 1, ttl=seconds, timer=lambda: time.time()
        )
        self._lock = threading.Lock()

    def hit(self, *key: str) -> bool:
        """Count one hit; False when the key had already reached its limit (not counted)."""
        with self._lock:
            for expired, _ in self._keys.expire():
                self._strategy.clear(self._item, *expired)
            if key not in self._keys and len(self._keys) >= self._max_keys:
                self._storage.reset()
                self._keys.clear()
            self._keys[key] = None
        return self._strategy.hit(self._item, *key)

    def retry_after(self, *key: str) -> float | None:
        """Seconds until the key may be hit again, or None when it may be hit now."""
        if self._strategy.test(self._item, *key):
            return None
        reset, _remaining = self._strategy.get_window_stats(self._item, *key)
        return max(reset - time.time(), 0.0) or None

    def clear(self, *key: str) -> None:
        with self._lock:
            self._keys.pop(key, None)
        self._strategy.clear(self._item, *key)

    def __len__(self) -> int:
        """How many keys are remembered (for tests of the memory bound)."""
        with self._lock:
            self._keys.expire()
            return len(self._keys)
