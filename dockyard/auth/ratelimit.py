"""Login rate limiting: too many failed logins for one (user, address) pair block it briefly.

Counted per process in memory (a password-guessing client hits the same worker through its
keep-alive connection; with several workers the limit is per worker, still bounded). While
blocked, even a correct password is refused: otherwise guessing would simply continue.
The counting is `dockyard.kit.ratelimit`'s. No HTTP here.
"""

from __future__ import annotations

from dockyard.kit.ratelimit import RateLimit


class LoginRateLimiter:
    """`max_failures` failures within `window_seconds` (a moving window) block the pair for
    `block_seconds`; a success forgets its failures."""

    def __init__(
        self,
        max_failures: int = 10,
        window_seconds: int = 300,
        block_seconds: int = 300,
        max_entries: int = 65536,
    ) -> None:
        self._failures = RateLimit(max_failures, window_seconds, max_keys=max_entries)
        # A block is one hit of a limit of one per block_seconds, counted from that hit.
        self._blocks = RateLimit(1, block_seconds, window="fixed", max_keys=max_entries)

    def retry_after(self, name: str, address: str) -> float | None:
        """Seconds until the pair may try again, or None when it is not blocked."""
        return self._blocks.retry_after(name, address)

    def failed(self, name: str, address: str) -> None:
        self._failures.hit(name, address)
        if self._failures.retry_after(name, address) is not None:
            self._failures.clear(name, address)
            self._blocks.hit(name, address)

    def succeeded(self, name: str, address: str) -> None:
        self._failures.clear(name, address)

    def __len__(self) -> int:
        """How many pairs are remembered (for tests of the memory bound)."""
        return len(self._failures) + len(self._blocks)
