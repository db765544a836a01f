"""A process that opens an SQLite engine keeps at most `MALLOC_ARENAS` glibc malloc arenas, so
the memory SQLite's threads free goes back to a few shared arenas instead of one per thread
(glibc's `malloc_info` counts them; each case runs in a fresh interpreter)."""

from __future__ import annotations

import subprocess
import sys

from dockyard.db.engine import MALLOC_ARENAS

_PROBE = """
import ctypes, os, sys, tempfile, threading
if sys.argv[1] == "bounded":
    from dockyard.db.engine import create_engine
    create_engine("sqlite+aiosqlite:///" + os.path.join(tempfile.mkdtemp(), "db.sqlite"))
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.fopen.restype = ctypes.c_void_p
barrier = threading.Barrier(8)

def work():
    barrier.wait()  # at once: glibc gives a thread that finds the arenas busy one of its own
    for _ in range(200):
        libc.free(libc.malloc(64 << 10))

threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
path = tempfile.mktemp()
fh = ctypes.c_void_p(libc.fopen(path.encode(), b"w"))
libc.malloc_info(0, fh)
libc.fclose(fh)
print(open(path).read().count("<heap nr="))
"""


def _arenas(case: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, case], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


def test_an_sqlite_engine_bounds_the_malloc_arenas() -> None:
    assert _arenas("bounded") <= MALLOC_ARENAS


def test_without_the_bound_threads_get_arenas_of_their_own() -> None:
    """The probe can see the difference (so the test above can fail)."""
    assert _arenas("default") > MALLOC_ARENAS
