"""Async engine and session factory: SQLite in WAL mode by default, PostgreSQL for several nodes."""

from __future__ import annotations

import ctypes
import sqlite3
import weakref
from collections.abc import Mapping
from typing import Any

from sqlalchemy import event, make_url, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from dockyard.db.sqlite_write_lock import LockingConnection

# Bytes of SQLite heap (page caches, mostly) one process keeps, whatever its connections.
SQLITE_HEAP_LIMIT = 8 << 20


# glibc's mallopt parameter for the number of malloc arenas.
_M_ARENA_MAX = -8
MALLOC_ARENAS = 2


def bound_malloc_arenas() -> bool:
    """At most MALLOC_ARENAS glibc malloc arenas in this process; False where malloc is not
    glibc's. SQLite allocates its page caches in aiosqlite's threads, and glibc gives threads
    arenas of their own (up to 8 per core) whose freed memory it keeps: after reading 100,000
    outbox events, the delivery process kept 140 MB of RSS with the default arenas and 132 MB
    with two. Call before the threads start (their arenas are made on first use)."""
    try:
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(_M_ARENA_MAX, MALLOC_ARENAS))
    except (OSError, AttributeError):
        return False


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    kwargs: dict[str, Any] = {}
    if is_sqlite(url):
        bound_malloc_arenas()  # before aiosqlite's threads exist
        # Write transactions queue on a lock the kernel hands over at once, instead of
        # SQLite's busy handler that sleeps milliseconds between tries (sqlite_write_lock.py).
        kwargs["connect_args"] = {"timeout": 30, "factory": LockingConnection}
        # An aiosqlite connection is a thread and a file handle: with the default pool (5 + 10
        # overflow, overflow closed on return) a burst of requests opens and closes connections
        # all the time. Keep enough for the usual concurrency; SQLite serialises writes anyway.
        kwargs["pool_size"] = max(pool_size, 20)
        kwargs["max_overflow"] = 20
    else:
        kwargs["pool_size"] = pool_size
        kwargs["max_overflow"] = pool_size
        kwargs["pool_pre_ping"] = True
    engine = create_async_engine(url, **kwargs)
    if is_sqlite(url):
        _install_sqlite_pragmas(engine)
    return engine


def _install_sqlite_pragmas(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # 8 MiB page cache per connection (default 2 MiB): the webhook delivery tables are
        # written in batches of hundreds of rows with random-UUID keys, whose pages (a few MiB)
        # a small cache would read again. Not more: a connection's cache fills with every page
        # it reads up to this size and keeps them, so a process's memory grows with the data by
        # this much per pooled connection (32 MiB let a server grow ~20 MB from 100 to 100,000
        # repositories).
        cursor.execute("PRAGMA cache_size=-8192")
        # And at most 8 MiB for all of them: the limit is the process's (SQLite recycles cached
        # pages near it), so a process no longer grows by 8 MiB per pooled connection that has
        # read a large database once (the SQLite side of issue 16's growth from 100 to 100,000;
        # at 16 MiB the delivery process still grew 23 MB).
        cursor.execute(f"PRAGMA soft_heap_limit={SQLITE_HEAP_LIMIT}")
        cursor.close()


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


# -- point reads on the hot path ------------------------------------------------------------------
#
# A manifest GET needs one indexed SELECT. Through aiosqlite that costs about a millisecond of
# CPU (thread hops for execute, fetch and the pool's reset), ten times the query itself. SQLite
# in WAL mode never makes a reader wait for a writer, so for SQLite these reads run directly
# on the event loop thread with a plain sqlite3 connection of the process (autocommit: every
# SELECT sees the latest commit). PostgreSQL reads go through the async engine as usual.

_SQLITE_READERS: weakref.WeakKeyDictionary[AsyncEngine, sqlite3.Connection] = (
    weakref.WeakKeyDictionary()
)


def _sqlite_reader(engine: AsyncEngine) -> sqlite3.Connection:
    conn = _SQLITE_READERS.get(engine)
    if conn is None:
        database = make_url(str(engine.url)).database or ""
        conn = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA query_only=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        _SQLITE_READERS[engine] = conn
    return conn


async def fetch_one(
    engine: AsyncEngine, sql: str, params: Mapping[str, Any]
) -> tuple[Any, ...] | None:
    """The first row of a read-only SELECT written in portable SQL with `:name` parameters."""
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        row: tuple[Any, ...] | None = _sqlite_reader(engine).execute(sql, params).fetchone()
        return row
    async with engine.connect() as conn:
        result = (await conn.execute(text(sql), dict(params))).first()
    return None if result is None else tuple(result)
