"""A first-come, first-served write lock for every process writing one SQLite database.

SQLite lets one writer in at a time and makes the others retry through its busy handler,
which sleeps 1, 2, 5, 10, 15, 20, 25... ms between tries: a push's write that misses the lock
while the delivery process records a batch waits milliseconds even when the lock frees
microseconds later, and under steady delivery load it misses again and again (a whole push
took 10x as long). Here a writer first waits on a lock the kernel hands over the moment it is
released (`fcntl.flock` on a file beside the database), so it never reaches the busy handler.

How: the sqlite3 connection (`LockingConnection`, given to aiosqlite as its `factory`) takes
the lock in the driver's own thread just before a statement that makes Python's sqlite3 open
a write transaction (the first INSERT, UPDATE, DELETE or REPLACE; Python 3.11's implicit
BEGIN is issued there), and lets it go as soon as the connection is out of its transaction
(commit, rollback, a failed statement, close). Reads never take it (WAL: readers never wait).

Inside a process the connections first queue on a `threading.Lock` with a timeout, so one
flock waiter per process and no connection can wait for ever on another connection of its own
process (a transaction that awaits a second one would deadlock): after LOCAL_WAIT it writes
without the lock and SQLite's busy handler decides, as without this module. A writer that
does not use it (the `sqlite3` shell, a migration tool) is still serialised by SQLite.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import sqlite3
import threading
from typing import Any, Self

# The statements before which Python 3.11's sqlite3 opens a transaction (its own test: the
# first keyword after white space and comments).
_DML = re.compile(
    r"\s*(?:(?:--[^\n]*(?:\n|$)|/\*.*?\*/)\s*)*(?:insert|update|delete|replace)\b",
    re.IGNORECASE | re.DOTALL,
)


# How long a connection waits behind another connection of its own process before it writes
# without the lock (SQLite's busy timeout then applies as usual).
LOCAL_WAIT = 30.0


def starts_write(sql: str) -> bool:
    """True for a statement that opens a write transaction in Python 3.11's sqlite3."""
    return _DML.match(sql) is not None


def lock_path(database: str) -> str:
    return f"{database}-writelock"


class WriteLock:
    """The lock of one database file in one process."""

    def __init__(self, path: str, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self._local = threading.Lock()
        self._fd: int | None = None
        self._guard = threading.Lock()
        # Connections of this process waiting for the lock now (what tests look at).
        self.waiting = 0

    def _file(self) -> int:
        with self._guard:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            return self._fd

    def acquire(self) -> bool:
        """Wait for the lock (blocking: call it in the driver's thread). False when it could not
        be had within `timeout` in this process, or the lock file is unusable: the caller then
        writes without it."""
        if not self._local.acquire(blocking=False):
            with self._guard:
                self.waiting += 1
            try:
                if not self._local.acquire(timeout=self.timeout):
                    return False
            finally:
                with self._guard:
                    self.waiting -= 1
        try:
            # One waiter per process at most; the holder elsewhere is inside one transaction.
            fcntl.flock(self._file(), fcntl.LOCK_EX)
        except OSError:
            self._local.release()
            return False
        return True

    def release(self) -> None:
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._local.release()


# Per (process, lock file): a forked child must not share its parent's open file (flock is
# held per open file, so parent and child would both "hold" it) nor its threading locks.
_LOCKS: dict[tuple[int, str], WriteLock] = {}
_LOCKS_GUARD = threading.Lock()


def _after_fork_in_child() -> None:
    """A forked child starts with no lock: it closes its copies of the parent's lock files (a
    copy would keep a lock the parent held after the parent is gone) and its guard is new."""
    global _LOCKS_GUARD
    for lock in _LOCKS.values():
        if lock._fd is not None:
            with contextlib.suppress(OSError):
                os.close(lock._fd)
            lock._fd = None
    _LOCKS.clear()
    _LOCKS_GUARD = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def write_lock(database: str, timeout: float) -> WriteLock:
    key = (os.getpid(), lock_path(database))
    with _LOCKS_GUARD:
        lock = _LOCKS.get(key)
        if lock is None:
            lock = _LOCKS[key] = WriteLock(key[1], timeout)
        return lock


class LockingCursor(sqlite3.Cursor):
    """Takes its connection's write lock before a statement that opens a write transaction."""

    connection: LockingConnection

    def execute(self, sql: str, parameters: Any = (), /) -> Self:
        conn = self.connection
        conn.before(sql)
        try:
            return super().execute(sql, parameters)
        finally:
            conn.after()

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> Self:
        conn = self.connection
        conn.before(sql)
        try:
            return super().executemany(sql, seq_of_parameters)
        finally:
            conn.after()


class LockingConnection(sqlite3.Connection):
    """A sqlite3 connection whose write transactions hold the database's `WriteLock`."""

    def __init__(self, database: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self._lock: WriteLock | None = None
        if database not in ("", ":memory:") and not database.startswith("file:"):
            self._lock = write_lock(os.path.abspath(database), LOCAL_WAIT)
        self._held = False

    @property
    def holds_lock(self) -> bool:
        return self._held

    def cursor(self, factory: Any = None) -> Any:
        return super().cursor(factory or LockingCursor)

    def before(self, sql: str) -> None:
        if (
            self._lock is not None
            and not self._held
            and not self.in_transaction
            and starts_write(sql)
        ):
            self._held = self._lock.acquire()

    def after(self) -> None:
        if not self._held:
            return
        try:
            busy = self.in_transaction
        except sqlite3.ProgrammingError:  # closed
            busy = False
        if not busy:
            self._held = False
            assert self._lock is not None
            self._lock.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.after()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.after()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.after()
