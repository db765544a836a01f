"""How an upload's body reaches its file in the filesystem driver, and the digest note left
beside it.

The body's pieces (Granian hands ~400 KiB each) go on a MiB at a time as they are, never joined
(a copy of every byte uploaded): one thread writes a batch with one writev while another hashes
it and the event loop receives the next one. Writing into a new file's page cache and hashing
each cost about as much as receiving here, so in one thread they added up on a push's critical
path. After a large append the worker notes what the upload hashes to, so a PUT that reaches
another worker process does not hash the whole upload again.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from dockyard.storage.writeback import start_writeback

BATCH_BYTES = 1024 * 1024
# At most this many body pieces per writev (the system's limit is 1024 buffers).
MAX_PIECES = 256
# Beside an upload's data: "<size> <mtime_ns> <sha256 hex>" of the data as its last append left
# it. Written only after appends of at least this much, where hashing the upload again from
# its file (what a PUT reaching another worker would do) costs more than the small write.
DIGEST_NOTE = "sha256-of-data"
NOTE_FROM = 1024 * 1024

_Batch = tuple[asyncio.Future[None], asyncio.Future[None], int]


class BodyWriter:
    """Appends a body to an open file while hashing it. `written` is where the file ends once
    `write` returns or raises; `failed` says a write failed, so the hasher may be ahead."""

    def __init__(self, fd: int, hasher: hashlib._Hash, written: int) -> None:
        self.fd = fd
        self.hasher = hasher
        self.written = written
        self.failed = False
        self._in_flight: _Batch | None = None

    async def write(self, chunks: AsyncIterator[bytes]) -> None:
        try:
            pending: list[bytes] = []
            pending_size = 0
            async for chunk in chunks:
                pending.append(chunk)
                pending_size += len(chunk)
                if pending_size >= BATCH_BYTES or len(pending) >= MAX_PIECES:
                    await self._settle()
                    self._in_flight = self._start(pending, pending_size)
                    pending, pending_size = [], 0
            await self._settle()
            if pending:
                self._in_flight = self._start(pending, pending_size)
                await self._settle()
        finally:
            try:
                await self._settle()  # a client gone half-way: what was handed on still lands
            except BaseException:
                self.failed = True

    def _start(self, pieces: list[bytes], size: int) -> _Batch:
        # Called only once the batch before has settled, so `written` is where this one lands.
        return _start_batch(self.fd, self.hasher, pieces, size, self.written)

    async def _settle(self) -> None:
        if self._in_flight is None:
            return
        write, digest, size = self._in_flight
        self._in_flight = None
        try:
            await write
        except BaseException:
            self.failed = True
            raise
        finally:
            # Never left running: the hasher and the file must be still when the caller keeps them.
            await asyncio.gather(digest, return_exceptions=True)
        self.written += size


def _start_batch(
    fd: int, hasher: hashlib._Hash, pieces: list[bytes], size: int, offset: int
) -> _Batch:
    """Write `pieces` to `fd` and hash them into `hasher`: a full batch in two threads at once,
    a smaller one (a small layer's whole body, a body's tail) in one, saving a thread hop."""
    if size < BATCH_BYTES:
        write = asyncio.ensure_future(
            asyncio.to_thread(_write_then_hash, fd, hasher, pieces, size, offset)
        )
        hashed = asyncio.get_running_loop().create_future()
        hashed.set_result(None)
        return write, hashed, size
    write = asyncio.ensure_future(asyncio.to_thread(_write_all, fd, pieces, size, offset))
    digest = asyncio.ensure_future(asyncio.to_thread(_hash_pieces, hasher, pieces))
    return write, digest, size


def _write_then_hash(
    fd: int, hasher: hashlib._Hash, pieces: list[bytes], size: int, offset: int
) -> None:
    _write_all(fd, pieces, size, offset)  # first: a failed write leaves the hasher untouched
    _hash_pieces(hasher, pieces)


def _write_all(fd: int, pieces: list[bytes], total: int, offset: int) -> None:
    """Append `pieces` (`total` bytes) to `fd`, which ends at `offset`."""
    done = os.writev(fd, pieces)
    if done < total:  # a short write (rare on a regular file): the rest, until all is there
        rest = memoryview(b"".join(pieces))[done:]
        while rest:
            rest = rest[os.write(fd, rest) :]
    start_writeback(fd, offset, offset + total)


def _hash_pieces(hasher: hashlib._Hash, pieces: list[bytes]) -> None:
    for piece in pieces:
        hasher.update(piece)


def note_digest(path: Path, size: int, hasher: hashlib._Hash) -> None:
    """Leave "<size> <mtime_ns> <hex>" beside the upload for a PUT in another worker. A reader
    that finds it empty or stale (the data grew or changed since) hashes the file instead."""
    try:
        mtime_ns = path.stat().st_mtime_ns
        fd = os.open(path.parent / DIGEST_NOTE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, f"{size} {mtime_ns} {hasher.copy().hexdigest()}".encode())
        finally:
            os.close(fd)
    except OSError:  # only an optimisation: without the note the PUT hashes the file
        return


def noted_digest(path: Path, size: int) -> str | None:
    """The digest noted beside the upload if it still describes the data's `size` bytes."""
    try:
        noted_size, mtime_ns, hex_digest = (path.parent / DIGEST_NOTE).read_text().split()
        if int(noted_size) != size or int(mtime_ns) != path.stat().st_mtime_ns:
            return None
    except (OSError, ValueError):
        return None
    return f"sha256:{hex_digest}"
