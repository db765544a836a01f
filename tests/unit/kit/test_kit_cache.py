"""dockyard.kit.cache: entries expire, and a full cache evicts the least recently used."""

from __future__ import annotations

from dockyard.kit.cache import ExpiringCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_entries_expire_after_ttl() -> None:
    clock = Clock()
    cache: ExpiringCache[str, int] = ExpiringCache(maxsize=4, ttl=10, timer=clock)
    cache.put("a", 1)
    assert cache.get("a") == 1
    clock.now = 9.9
    assert cache.get("a") == 1
    clock.now = 10
    assert cache.get("a") is None
    assert "a" not in cache


def test_a_full_cache_evicts_the_least_recently_used_not_everything() -> None:
    cache: ExpiringCache[str, int] = ExpiringCache(maxsize=3, ttl=60, timer=Clock())
    for name in ("a", "b", "c"):
        cache.put(name, 1)
    assert cache.get("a") == 1  # now "b" is the least recently used
    cache.put("d", 1)
    assert len(cache) == 3
    assert "b" not in cache
    assert all(k in cache for k in ("a", "c", "d"))


def test_discard() -> None:
    cache: ExpiringCache[str, int] = ExpiringCache(maxsize=3, ttl=60)
    cache.put("a", 1)
    cache.discard("a")
    cache.discard("missing")
    assert cache.get("a") is None
