"""Start the kernel writing an upload's bytes to disk while the rest of the body arrives.

A blob is fsynced before its PUT answers 201 (see filesystem.py). Left alone, the kernel holds a
whole layer's bytes as dirty pages until that fsync, which then writes them all on the PUT's
critical path (~65 ms for 200 MiB here). Asking for writeback of each finished window of the
file as the upload goes (Linux's sync_file_range with SYNC_FILE_RANGE_WRITE: start, do not wait)
leaves the final fsync almost nothing to do (~5 ms), at the cost of a little time in the writer
thread, which runs beside the event loop. Where the call does not exist, nothing is started and
the fsync does all the work, as before.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

# Writeback is asked for each whole window: smaller ones mean more calls for the same bytes,
# larger ones leave more for the fsync at the PUT.
WINDOW = 8 * 1024 * 1024
# <linux/fs.h>: initiate writeback of dirty pages in the range, without waiting for it.
_SYNC_FILE_RANGE_WRITE = 2

_Starter = Callable[[int, int, int, int], int]


def _load() -> _Starter | None:
    try:
        # The process's own symbols, libc's among them (find_library would run ldconfig).
        libc = ctypes.CDLL(None, use_errno=True)
        call = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    call.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    call.restype = ctypes.c_int
    return call


_start = _load()


def windows_done(before: int, after: int) -> list[tuple[int, int]]:
    """The windows (offset, length) that an append from `before` to `after` completed: those
    whose end it reached or passed, whoever wrote their start."""
    first_end = (before // WINDOW + 1) * WINDOW
    return [(end - WINDOW, WINDOW) for end in range(first_end, after + 1, WINDOW)]


def start_writeback(fd: int, before: int, after: int) -> None:
    """Ask for the windows this append completed to be written out. Best effort: a refusal
    (an unsupported file system, say) changes nothing but when the bytes reach the disk."""
    if _start is None:
        return
    for offset, length in windows_done(before, after):
        _start(fd, offset, length, _SYNC_FILE_RANGE_WRITE)
