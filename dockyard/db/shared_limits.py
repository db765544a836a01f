"""Rate limits shared by every process that uses the database (all HTTP workers, later all nodes).

One row per (scope, key) counts hits in a fixed window that starts at the first hit after the
previous window ended, and may carry a block. A hit is one upsert whose conflict branch does
the counting in SQL, so two workers hitting the same key at once both count (no read-modify-
write race). Reading a key's standing is one primary-key point read, the only cost a caller
pays when it has nothing to record (a successful login). Rows whose window and block are over
are deleted whenever a hit is recorded (up to a batch), so the table holds only keys active in
the last window or block. Times are epoch seconds from `time.time()` (tests move it). No HTTP here.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Float, Integer, String, case, delete, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.db.base import Base

# Longest key: a 255-character account name and an IPv6 address with zone, as JSON.
KEY_LENGTH = 320
# Expired rows deleted by one hit at most (more than keys are ever created per hit).
_CLEANUP_BATCH = 100


class SharedLimit(Base):
    __tablename__ = "shared_limits"

    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    hits: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[float] = mapped_column(Float)
    blocked_until: Mapped[float | None] = mapped_column(Float, nullable=True)
    # When the row means nothing any more (window and block over): the clean-up's index.
    expires_at: Mapped[float] = mapped_column(Float, index=True)


@dataclass(frozen=True)
class Standing:
    """A key as last recorded: seconds until its block ends (None: not blocked), and whether
    a row exists at all (a caller that forgets a key deletes only then)."""

    retry_after: float | None
    remembered: bool


@dataclass(frozen=True)
class Counted:
    """A hit as counted: the hits in the current window (this one included) and the seconds
    until that window ends."""

    hits: int
    window_left: float


def _key(parts: tuple[str, ...]) -> str:
    # JSON, so that distinct tuples give distinct keys (PostgreSQL text cannot hold NUL).
    return json.dumps(parts, ensure_ascii=False, separators=(",", ":"))[:KEY_LENGTH]


async def standing(session: AsyncSession, scope: str, *key: str) -> Standing:
    """One point read by primary key."""
    row = (
        await session.execute(
            select(SharedLimit.blocked_until).where(
                SharedLimit.scope == scope, SharedLimit.key == _key(key)
            )
        )
    ).first()
    if row is None:
        return Standing(None, False)
    now = time.time()
    blocked_until = row[0]
    wait = blocked_until - now if blocked_until is not None and blocked_until > now else None
    return Standing(wait, True)


async def hit(session: AsyncSession, scope: str, *key: str, seconds: int) -> Counted:
    """Count one hit of `key` in a window of `seconds` (a new window when the last is over)."""
    now = time.time()
    table = SharedLimit.__table__
    insert_fn: Any = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    over = table.c.window_start + seconds <= now
    stmt = insert_fn(table).values(
        scope=scope, key=_key(key), hits=1, window_start=now, expires_at=now + seconds
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["scope", "key"],
        set_={
            "hits": case((over, 1), else_=table.c.hits + 1),
            "window_start": case((over, now), else_=table.c.window_start),
            "expires_at": case(
                (table.c.expires_at < now + seconds, now + seconds), else_=table.c.expires_at
            ),
        },
    ).returning(table.c.hits, table.c.window_start)
    hits, window_start = (await session.execute(stmt)).one()
    # Rows another transaction holds are skipped, not waited for: two hits each refreshing a
    # row the other would delete would otherwise deadlock on PostgreSQL. A batch at a time.
    expired = (
        select(SharedLimit.scope, SharedLimit.key)
        .where(SharedLimit.expires_at < now)
        .limit(_CLEANUP_BATCH)
        .with_for_update(skip_locked=True)
    )
    await session.execute(
        delete(SharedLimit).where(tuple_(SharedLimit.scope, SharedLimit.key).in_(expired))
    )
    return Counted(int(hits), max(window_start + seconds - now, 0.0))


async def block(session: AsyncSession, scope: str, *key: str, seconds: int) -> None:
    """Block `key` for `seconds` from now and start its count afresh."""
    now = time.time()
    await session.execute(
        update(SharedLimit)
        .where(SharedLimit.scope == scope, SharedLimit.key == _key(key))
        .values(hits=0, window_start=now, blocked_until=now + seconds, expires_at=now + seconds)
    )


async def forget(session: AsyncSession, scope: str, *key: str) -> None:
    await session.execute(
        delete(SharedLimit).where(SharedLimit.scope == scope, SharedLimit.key == _key(key))
    )


async def count(session: AsyncSession, scope: str) -> int:
    """How many keys of `scope` are remembered (for tests of the bound)."""
    rows = await session.execute(select(SharedLimit.key).where(SharedLimit.scope == scope))
    return len(rows.all())
