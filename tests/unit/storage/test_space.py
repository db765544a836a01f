"""Free space of the data folder and the record of disk-full write failures /health reads."""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.storage import space


@pytest.fixture(autouse=True)
def _forget() -> Iterator[None]:
    space.forget_write_failures()
    yield
    space.forget_write_failures()


def test_free_bytes_of_a_folder(tmp_path: Path) -> None:
    assert space.free_bytes(tmp_path) > 0


def test_disk_full_errors_are_recognised() -> None:
    assert space.is_no_space(OSError(errno.ENOSPC, "No space left on device"))
    assert space.is_no_space(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert space.is_no_space(sqlite3.OperationalError("database or disk is full"))
    wrapped = RuntimeError("commit failed")
    wrapped.__cause__ = OSError(errno.ENOSPC, "No space left on device")
    assert space.is_no_space(wrapped)
    assert not space.is_no_space(OSError(errno.EACCES, "Permission denied"))
    assert not space.is_no_space(ValueError("bad digest"))


def test_a_noted_failure_is_reported_for_a_while() -> None:
    assert space.recent_write_failure() == ""
    assert not space.note_write_failure(ValueError("not a disk problem"))
    assert space.recent_write_failure() == ""
    assert space.note_write_failure(OSError(errno.ENOSPC, "No space left on device"))
    assert "No space left" in space.recent_write_failure()
    assert space.recent_write_failure(window=-1) == ""
