"""The webhook test endpoint's limit: at most N test sends per account per minute, then 429
(RATE_LIMITED) with Retry-After. Counted in the database (SQLite, or PostgreSQL when
DOCKYARD_TEST_DATABASE_URL names it), so every HTTP worker shares it. The limit reads
`time.time()`: the clock is patched."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker

from dockyard.config import Settings
from dockyard.db.base import Base
from dockyard.db.engine import create_engine
from dockyard.db.shared_limits import SharedLimit
from dockyard.errors import DockyardError, ErrorCode
from dockyard.webhooks.runtime import WebhookRuntime


async def _scenario(tmp_path: Path, database_url: str, now: list[float]) -> None:
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all, tables=[SharedLimit.__table__])
    sessions = async_sessionmaker(engine)
    # Two runtimes, as two HTTP workers have: they share one count.
    settings = Settings(data_dir=tmp_path, webhook_test_rate_per_minute=2)
    one, other = WebhookRuntime(settings), WebhookRuntime(settings)
    try:
        await one.check_rate(sessions, "alice")
        now[0] += 10
        await other.check_rate(sessions, "alice")
        with pytest.raises(DockyardError) as refused:
            await one.check_rate(sessions, "alice")
        assert refused.value.code is ErrorCode.RATE_LIMITED
        assert refused.value.headers == {"Retry-After": "51"}
        await other.check_rate(sessions, "bob")  # another account has its own count
        now[0] += 51  # the minute of the first send is over
        await one.check_rate(sessions, "alice")
    finally:
        await engine.dispose()


def test_test_sends_are_limited_per_account_per_minute(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [3_000_000.0]
    monkeypatch.setattr(time, "time", lambda: now[0])
    asyncio.run(_scenario(tmp_path, database_url, now))
