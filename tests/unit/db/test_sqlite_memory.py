"""A process's SQLite memory is bounded as a whole, not per pooled connection: each connection
the engine opens sets the process-wide soft heap limit, and SQLite then keeps its page caches
under it however many connections have read a large database."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from dockyard.db.engine import SQLITE_HEAP_LIMIT, create_engine


async def _limits(url: str) -> list[int]:
    engine = create_engine(url)
    try:
        found = []
        async with engine.connect() as first, engine.connect() as second:
            for conn in (first, second):
                found.append(int((await conn.execute(text("PRAGMA soft_heap_limit"))).scalar_one()))
        return found
    finally:
        await engine.dispose()


def test_every_sqlite_connection_is_under_one_process_wide_limit(tmp_path: Path) -> None:
    limits = asyncio.run(_limits(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"))
    assert limits == [SQLITE_HEAP_LIMIT, SQLITE_HEAP_LIMIT]
    assert 0 < SQLITE_HEAP_LIMIT <= 32 << 20
