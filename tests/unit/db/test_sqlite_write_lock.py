"""The SQLite write lock: held from a connection's first write statement to the end of its
transaction, never for reads, and shared by the connections of one database."""

from __future__ import annotations

import fcntl
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from dockyard.db.sqlite_write_lock import LockingConnection, lock_path, starts_write, write_lock


def connect(path: Path, timeout: float = 5) -> LockingConnection:
    conn = sqlite3.connect(
        str(path), timeout=timeout, factory=LockingConnection, check_same_thread=False
    )
    assert isinstance(conn, LockingConnection)
    return conn


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "t.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x INTEGER)")
    conn.commit()
    conn.close()
    return path


@pytest.mark.parametrize(
    ("sql", "writes"),
    [
        ("INSERT INTO t VALUES (1)", True),
        ("  update t SET x = 2", True),
        ("/* why */ DELETE FROM t", True),
        ("-- note\nREPLACE INTO t VALUES (3)", True),
        ("SELECT * FROM t", False),
        ("PRAGMA foreign_keys=ON", False),
        ("inserted_at", False),
    ],
)
def test_the_statements_that_open_a_write_transaction(sql: str, writes: bool) -> None:
    assert starts_write(sql) is writes


def held(conn: LockingConnection) -> bool:
    return conn.holds_lock


def test_held_from_the_first_write_to_the_commit(db: Path) -> None:
    conn = connect(db)
    cur = conn.cursor()
    cur.execute("SELECT * FROM t").fetchall()
    assert not held(conn)
    cur.execute("INSERT INTO t VALUES (1)")
    assert held(conn)
    cur.execute("SELECT * FROM t").fetchall()
    cur.executemany("INSERT INTO t VALUES (?)", [(2,), (3,)])
    assert held(conn)
    conn.commit()
    assert not held(conn)
    cur.execute("UPDATE t SET x = 0")
    assert held(conn)
    conn.rollback()
    assert not held(conn)
    conn.close()


def test_a_failed_write_lets_the_lock_go(db: Path) -> None:
    conn = connect(db)
    with pytest.raises(sqlite3.OperationalError):
        conn.cursor().execute("INSERT INTO missing VALUES (1)")
    assert not held(conn)
    conn.close()


def test_a_second_writer_waits_for_the_first_transaction(db: Path) -> None:
    # No busy timeout for the second: without the lock SQLite would refuse its write at once
    # ("database is locked") while the first transaction is open.
    first, second = connect(db), connect(db, timeout=0)
    first.cursor().execute("INSERT INTO t VALUES (1)")
    order: list[str] = []
    errors: list[BaseException] = []

    def write() -> None:
        try:
            second.cursor().execute("INSERT INTO t VALUES (2)")
            order.append("second wrote")
            second.commit()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=write)
    thread.start()
    lock = write_lock(str(db.resolve()), 5)
    while not lock.waiting and thread.is_alive():
        time.sleep(0.001)
    order.append("first commits")
    first.commit()
    thread.join()
    assert errors == []
    assert order == ["first commits", "second wrote"]
    assert not held(first) and not held(second)
    first.close()
    second.close()


def test_a_writer_that_cannot_have_the_lock_in_time_writes_without_it(db: Path) -> None:
    lock = write_lock(str(db.resolve()), 0.05)
    # Another thread of this process holds it (as a transaction awaiting a second one would).
    assert lock.acquire()
    try:
        conn = connect(db, timeout=0.05)
        conn.cursor().execute("INSERT INTO t VALUES (1)")
        assert not conn.holds_lock
        conn.commit()
        conn.close()
    finally:
        lock.release()


def test_closing_in_a_transaction_lets_the_lock_go(db: Path) -> None:
    conn = connect(db)
    conn.cursor().execute("INSERT INTO t VALUES (1)")
    conn.close()
    assert not held(conn)
    other = connect(db)
    other.cursor().execute("INSERT INTO t VALUES (2)")
    assert held(other)
    other.commit()
    other.close()


def test_a_forked_child_keeps_no_copy_of_its_parent_lock(db: Path) -> None:
    """A process that dies holding the lock frees it, even if a child it forked lives on."""
    database = str(db.resolve())
    ready, told = os.pipe()
    parent = os.fork()
    if parent == 0:  # pragma: no cover - in the forked process
        try:
            assert write_lock(database, 5).acquire()
            child = os.fork()
            if child == 0:
                os.write(told, b"up")
                time.sleep(60)
                os._exit(0)
            os.write(told, f"{child}\n".encode())
        finally:
            os._exit(0)  # dies holding the lock
    os.waitpid(parent, 0)
    said = b""
    while b"up" not in said or b"\n" not in said:
        said += os.read(ready, 64)
    child = int(said.replace(b"up", b"").strip())
    fd = os.open(lock_path(database), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError if the child held it
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
        os.kill(child, signal.SIGKILL)
