"""An expiring in-memory cache of bounded size (`cachetools.TTLCache` behind a lock).

When full, the least recently used entry is evicted (never the whole cache). The lock is
there because callers read from the event loop and write from worker threads (password
checks run in `asyncio.to_thread`), and cachetools' caches are not thread-safe.
No I/O here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from cachetools import TTLCache

K = TypeVar("K")
V = TypeVar("V")


class ExpiringCache(Generic[K, V]):
    """At most `maxsize` entries, each kept `ttl` seconds (by `timer`) after it was put."""

    def __init__(
        self, maxsize: int, ttl: float, timer: Callable[[], float] = time.monotonic
    ) -> None:
        self._cache: TTLCache[K, V] = TTLCache(maxsize=maxsize, ttl=ttl, timer=timer)
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            return self._cache.get(key)

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._cache[key] = value

    def discard(self, key: K) -> None:
        with self._lock:
            self._cache.pop(key, None)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._cache

    def __len__(self) -> int:
        with self._lock:
            self._cache.expire()
            return len(self._cache)
