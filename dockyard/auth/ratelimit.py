"""Login rate limiting: too many failed logins for one (user, address) pair block it briefly.

Counted in the database (`dockyard.db.shared_limits`), so every HTTP worker (and every node on
one database) shares one count: N workers do not give a guesser N times the attempts. A
successful login pays one primary-key point read; only failures, blocks and a success after
failures write. Failures are counted in a fixed window that opens at the first failure after
the last window closed (so at most `max_failures - 1` failures pass per window without a
block). While blocked, even a correct password is refused: otherwise guessing would simply
continue. No HTTP here.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.db import shared_limits
from dockyard.db.shared_limits import Standing

SCOPE = "login"


class LoginRateLimiter:
    """`max_failures` failures within `window_seconds` block the pair for `block_seconds`; a
    success forgets its failures. The caller owns the session and commits after a write."""

    def __init__(
        self, max_failures: int = 10, window_seconds: int = 300, block_seconds: int = 300
    ) -> None:
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self.block_seconds = block_seconds

    async def standing(self, session: AsyncSession, name: str, address: str) -> Standing:
        """The pair's block (seconds left, or None) and whether failures are remembered."""
        return await shared_limits.standing(session, SCOPE, name, address)

    async def failed(self, session: AsyncSession, name: str, address: str) -> None:
        counted = await shared_limits.hit(
            session, SCOPE, name, address, seconds=self.window_seconds
        )
        if counted.hits >= self.max_failures:
            await shared_limits.block(session, SCOPE, name, address, seconds=self.block_seconds)

    async def succeeded(self, session: AsyncSession, name: str, address: str) -> None:
        """Forget the pair's failures (call only when its standing says it has some)."""
        await shared_limits.forget(session, SCOPE, name, address)
