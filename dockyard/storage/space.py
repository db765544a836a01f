"""Free space of the data folder, and a record of writes that failed for want of it.

`/health` reads both. Code that writes (uploads, the database) calls `note_write_failure(exc)`
when a write raises, so `/health` can report "the disk is full" even when the free-space
threshold is set below what a write needed (quotas, reserved blocks). The record is per
process and in memory: a full disk cannot take a file. No HTTP, no database here.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from pathlib import Path

# How long a failed write keeps /health unhealthy after the last one.
FAILURE_WINDOW = 60.0
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}

_lock = threading.Lock()
_last_failure: tuple[float, str] | None = None


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer may still use on the file system holding `path`."""
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def is_no_space(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) says the disk or the quota is full."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _NO_SPACE:
            return True
        text = str(seen).lower()
        # SQLite reports a full disk as an error message, not an errno.
        if "database or disk is full" in text or "no space left" in text:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def note_write_failure(exc: BaseException) -> bool:
    """Record `exc` if it is a full disk; True when it was. Safe to call with any exception."""
    global _last_failure
    if not is_no_space(exc):
        return False
    with _lock:
        _last_failure = (time.monotonic(), f"{type(exc).__name__}: {exc}"[:200])
    return True


def recent_write_failure(window: float = FAILURE_WINDOW) -> str:
    """The last disk-full write failure of this process within `window` seconds, or ""."""
    with _lock:
        last = _last_failure
    if last is None or time.monotonic() - last[0] > window:
        return ""
    return last[1]


def forget_write_failures() -> None:
    """For tests and after an operator freed space."""
    global _last_failure
    with _lock:
        _last_failure = None
