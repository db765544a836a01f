"""Request bodies the registry refuses: read and drop them (bounded) so the client's keep-alive
connection stays usable and it sees our error instead of a reset."""

from __future__ import annotations

from fastapi import Request

DRAIN_LIMIT = 16 * 1024 * 1024


async def drain(request: Request, limit: int = DRAIN_LIMIT) -> bool:
    """Consume the rest of the body; False when it was larger than `limit` (close then)."""
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            return False
    return True
