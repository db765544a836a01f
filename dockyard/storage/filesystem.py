"""Filesystem blob storage: blobs/<alg>/<2 hex>/<encoded>, uploads/<id>/data.

Writes go to a temporary file, are fsynced, then atomically renamed, so a crash never leaves
a half-written blob visible. Upload hashers live in memory while the process runs, with the
offset they have hashed up to: when another worker process (or a previous run) appended bytes,
only the missing tail is hashed, so several workers and restarts never give a wrong digest.
A body streams through three hands at once: the event loop receives the next MiB while one
thread writes the last one and another hashes it. After a large append the worker leaves the
digest of what it wrote beside the upload, so a PUT that reaches another worker does not hash
the whole upload again.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from dockyard.storage.base import DigestMismatch, UploadOffsetMismatch
from dockyard.storage.digest import algorithm, is_valid_digest

_READ_CHUNK = 1024 * 1024
# A blob is sent in 256 KiB pieces: measured on a 64 MiB blob behind Granian, less CPU than
# 1 MiB pieces (or Granian's own `pathsend`, which reads the file through a thread per piece).
_SEND_CHUNK = 256 * 1024
# At most this many body pieces per writev (the system's limit is 1024 buffers).
_MAX_PIECES = 256
# preadv(RWF_NOWAIT) reads only what the page cache holds and never waits for the disk, so a
# cached piece is read on the event loop without a thread hop; None where Linux lacks it.
_NOWAIT: int | None = getattr(os, "RWF_NOWAIT", None)
# Hashers kept for uploads in progress. With several worker processes a push's PATCH and PUT
# often reach different ones, and the process that took the chunks never hears of the commit:
# without a bound its hashers would pile up with every layer pushed. Beyond it the oldest is
# dropped, which only costs hashing that upload from its file if it ever comes back.
_HASHERS_KEPT = 1024
# Beside an upload's data: "<size> <mtime_ns> <sha256 hex>" of the data as its last append left
# it. Written only after appends of at least this much, where hashing the upload again from
# its file (what a PUT reaching another worker would do) costs more than the small write.
_DIGEST_NOTE = "sha256-of-data"
_DIGEST_NOTE_FROM = 1024 * 1024


class _UploadLock:
    """An upload's lock and how many requests hold or wait for it: the last one out drops it."""

    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class FilesystemBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "blobs").mkdir(parents=True, exist_ok=True)
        (root / "uploads").mkdir(parents=True, exist_ok=True)
        (root / "tmp").mkdir(parents=True, exist_ok=True)
        # upload id -> (sha256 hasher, bytes of the upload file it has consumed)
        self._hashers: dict[str, tuple[hashlib._Hash, int]] = {}
        self._locks: dict[str, _UploadLock] = {}

    # -- blobs --------------------------------------------------------------------------------
    def _blob_path(self, digest: str) -> Path:
        if not is_valid_digest(digest):
            raise ValueError(f"invalid digest {digest!r}")
        alg, encoded = digest.split(":", 1)
        return self.root / "blobs" / alg / encoded[:2] / encoded

    async def stat(self, digest: str) -> int | None:
        try:
            return self._blob_path(digest).stat().st_size
        except (FileNotFoundError, ValueError):
            return None

    def local_path(self, digest: str) -> Path | None:
        try:
            path = self._blob_path(digest)
        except ValueError:
            return None
        return path if path.exists() else None

    async def modified_at(self, digest: str) -> float | None:
        try:
            return self._blob_path(digest).stat().st_mtime
        except (FileNotFoundError, ValueError):
            return None

    async def read(
        self, digest: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        fd = os.open(self._blob_path(digest), os.O_RDONLY)
        try:
            offset = start
            stop = None if end is None else end + 1
            while stop is None or offset < stop:
                size = _SEND_CHUNK if stop is None else min(_SEND_CHUNK, stop - offset)
                chunk = _read_cached(fd, size, offset)
                if chunk is None:  # not in the page cache: the disk is waited for in a thread
                    chunk = await asyncio.to_thread(os.pread, fd, size, offset)
                if not chunk:
                    break
                offset += len(chunk)
                yield chunk
        finally:
            os.close(fd)

    async def put(self, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        path = self._blob_path(digest)
        if not path.exists():
            await asyncio.to_thread(self._write_atomic, path, data)
        return digest

    def _write_atomic(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root / "tmp", prefix=uuid.uuid4().hex)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def delete(self, digest: str) -> None:
        self._blob_path(digest).unlink(missing_ok=True)

    async def iter_digests(self) -> AsyncIterator[str]:
        blobs = self.root / "blobs"
        for alg_dir in sorted(p for p in blobs.iterdir() if p.is_dir()):
            for prefix in sorted(p for p in alg_dir.iterdir() if p.is_dir()):
                for blob in sorted(prefix.iterdir()):
                    digest = f"{alg_dir.name}:{blob.name}"
                    if is_valid_digest(digest):
                        yield digest

    async def iter_uploads(self) -> AsyncIterator[tuple[str, float]]:
        for folder in sorted((self.root / "uploads").iterdir()):
            try:
                data = folder / "data"
                yield folder.name, (data if data.exists() else folder).stat().st_mtime
            except FileNotFoundError:
                continue

    # -- uploads ------------------------------------------------------------------------------
    def _upload_file(self, upload_id: str) -> Path:
        if not upload_id or not all(c.isalnum() or c == "-" for c in upload_id):
            raise ValueError("invalid upload id")
        return self.root / "uploads" / upload_id / "data"

    @contextlib.asynccontextmanager
    async def _lock(self, upload_id: str) -> AsyncIterator[None]:
        """The upload's lock, held for the block: one request at a time writes or commits it."""
        entry = self._locks.get(upload_id)
        if entry is None:
            entry = self._locks[upload_id] = _UploadLock()
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if entry.users == 0 and self._locks.get(upload_id) is entry:
                del self._locks[upload_id]

    def _keep_hasher(self, upload_id: str, hasher: hashlib._Hash, hashed: int) -> None:
        self._hashers.pop(upload_id, None)  # to the end: the most recently used
        self._hashers[upload_id] = (hasher, hashed)
        while len(self._hashers) > _HASHERS_KEPT:
            del self._hashers[next(iter(self._hashers))]

    async def upload_start(self, upload_id: str) -> None:
        path = self._upload_file(upload_id)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        except OSError:
            # A full disk may refuse the file after the folder: leave neither behind.
            shutil.rmtree(path.parent, ignore_errors=True)
            raise
        self._keep_hasher(upload_id, hashlib.sha256(), 0)

    async def upload_size(self, upload_id: str) -> int | None:
        try:
            return self._upload_file(upload_id).stat().st_size
        except (FileNotFoundError, ValueError):
            return None

    async def _hasher(self, upload_id: str, path: Path, size: int) -> hashlib._Hash:
        """A sha256 hasher that has consumed exactly the first `size` bytes of the upload."""
        entry = self._hashers.get(upload_id)
        if entry is None or entry[1] > size:
            entry = (hashlib.sha256(), 0)
        hasher, hashed = entry
        if hashed < size:
            # Bytes appended by another worker process or before a restart: hash only those.
            await asyncio.to_thread(_hash_file, path, hasher, hashed, size)
        self._keep_hasher(upload_id, hasher, size)
        return hasher

    async def upload_append(
        self, upload_id: str, chunks: AsyncIterator[bytes], offset: int | None = None
    ) -> int:
        path = self._upload_file(upload_id)
        async with self._lock(upload_id):
            if not path.exists():
                raise FileNotFoundError(upload_id)
            size = path.stat().st_size
            if offset is not None and offset != size:
                raise UploadOffsetMismatch(f"upload is at {size}, chunk starts at {offset}")
            hasher = await self._hasher(upload_id, path, size)
            written = size
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)
            # The body's pieces (Granian hands ~400 KiB each) go out a MiB at a time as they
            # are, never joined (a copy of every byte uploaded): one thread writes a batch with
            # one writev while another hashes it and the event loop receives the next one.
            # Writing to the page cache and hashing each cost about as much as receiving here.
            in_flight: tuple[asyncio.Future[None], asyncio.Future[None], int] | None = None
            write_failed = False

            async def settle() -> None:
                nonlocal in_flight, written, write_failed
                if in_flight is None:
                    return
                write, digest, batch_size = in_flight
                in_flight = None
                try:
                    await write
                except BaseException:
                    write_failed = True
                    raise
                finally:
                    # Never left running: the hasher and the file must be still when kept.
                    await asyncio.gather(digest, return_exceptions=True)
                written += batch_size

            try:
                pending: list[bytes] = []
                pending_size = 0
                async for chunk in chunks:
                    pending.append(chunk)
                    pending_size += len(chunk)
                    if pending_size >= _READ_CHUNK or len(pending) >= _MAX_PIECES:
                        await settle()
                        in_flight = _start_batch(fd, hasher, pending, pending_size)
                        pending, pending_size = [], 0
                await settle()
                if pending:
                    in_flight = _start_batch(fd, hasher, pending, pending_size)
                    await settle()
            finally:
                try:
                    await settle()  # a client gone half-way: what was handed on still lands
                except BaseException:
                    write_failed = True
                os.close(fd)
                if write_failed:
                    # The hasher may be ahead of the file: the next request hashes the file.
                    self._hashers.pop(upload_id, None)
                else:
                    # The hasher has seen exactly what reached the file, even when the client
                    # disconnected half-way: the next chunk resumes from there.
                    self._keep_hasher(upload_id, hasher, written)
            if written - size >= _DIGEST_NOTE_FROM:
                _note_digest(path, written, hasher)
            return written

    async def upload_commit(self, upload_id: str, digest: str) -> int:
        path = self._upload_file(upload_id)
        async with self._lock(upload_id):
            size = path.stat().st_size  # FileNotFoundError: no such upload
            sha256 = algorithm(digest) == "sha256"
            entry = self._hashers.get(upload_id) if sha256 else None
            if entry is None or entry[1] > size:
                entry = (hashlib.new(algorithm(digest)), 0)
            hasher, hashed = entry
            target = self._blob_path(digest)
            if sha256 and hashed < size and _noted_digest(path, size) == digest:
                # The worker that took the appends noted what they hash to: trust it rather
                # than hash the whole upload again (a mismatch is still checked in full).
                await asyncio.to_thread(_publish, path, target)
                self._forget(upload_id)
                return size
            # One thread hop for what the hasher has not seen yet (all of it when another
            # worker process took the chunks: a push's PATCH and PUT often reach different
            # ones), the check, the durable publication and the upload folder's removal
            # (removing a folder waits on the journal too: never on the event loop).
            try:
                await asyncio.to_thread(
                    _verify_and_publish, path, target, hasher, hashed, size, digest
                )
            except DigestMismatch:
                if sha256:  # the hasher has seen the whole upload: a later PUT reuses it
                    self._keep_hasher(upload_id, hasher, size)
                raise
            except BaseException:
                self._hashers.pop(upload_id, None)  # how far it hashed is unknown now
                raise
            self._forget(upload_id)
            return size

    async def upload_cancel(self, upload_id: str) -> None:
        path = self._upload_file(upload_id)
        async with self._lock(upload_id):
            await asyncio.to_thread(shutil.rmtree, path.parent, True)
            self._forget(upload_id)

    def _forget(self, upload_id: str) -> None:
        self._hashers.pop(upload_id, None)


def _read_cached(fd: int, size: int, offset: int) -> bytes | None:
    """Up to `size` bytes at `offset` if the page cache holds them (some at least), else None
    (then the caller reads in a thread: a disk read must not stall the event loop)."""
    global _NOWAIT
    if _NOWAIT is None:
        return None
    buffer = bytearray(size)
    try:
        got = os.preadv(fd, [buffer], offset, _NOWAIT)
    except BlockingIOError:
        return None
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EINVAL):  # a file system without it
            _NOWAIT = None
        return None  # the read in a thread answers (or raises) for this piece
    if got <= 0:
        return None
    return bytes(buffer) if got == size else bytes(memoryview(buffer)[:got])


def _start_batch(
    fd: int, hasher: hashlib._Hash, pieces: list[bytes], size: int
) -> tuple[asyncio.Future[None], asyncio.Future[None], int]:
    """Write `pieces` to `fd` and hash them into `hasher`: a full batch in two threads at once,
    a smaller one (a small layer's whole body, a body's tail) in one, saving a thread hop."""
    if size < _READ_CHUNK:
        write = asyncio.ensure_future(asyncio.to_thread(_write_then_hash, fd, hasher, pieces, size))
        hashed = asyncio.get_running_loop().create_future()
        hashed.set_result(None)
        return write, hashed, size
    write = asyncio.ensure_future(asyncio.to_thread(_write_all, fd, pieces, size))
    digest = asyncio.ensure_future(asyncio.to_thread(_hash_pieces, hasher, pieces))
    return write, digest, size


def _write_then_hash(fd: int, hasher: hashlib._Hash, pieces: list[bytes], size: int) -> None:
    _write_all(fd, pieces, size)  # first: a failed write leaves the hasher untouched
    _hash_pieces(hasher, pieces)


def _write_all(fd: int, pieces: list[bytes], total: int) -> None:
    done = os.writev(fd, pieces)
    if done < total:  # a short write (rare on a regular file): the rest, until all is there
        rest = memoryview(b"".join(pieces))[done:]
        while rest:
            rest = rest[os.write(fd, rest) :]


def _hash_pieces(hasher: hashlib._Hash, pieces: list[bytes]) -> None:
    for piece in pieces:
        hasher.update(piece)


def _note_digest(path: Path, size: int, hasher: hashlib._Hash) -> None:
    """Leave "<size> <mtime_ns> <hex>" beside the upload for a PUT in another worker. A reader
    that finds it empty or stale (the data grew or changed since) hashes the file instead."""
    try:
        mtime_ns = path.stat().st_mtime_ns
        fd = os.open(path.parent / _DIGEST_NOTE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, f"{size} {mtime_ns} {hasher.copy().hexdigest()}".encode())
        finally:
            os.close(fd)
    except OSError:  # only an optimisation: without the note the PUT hashes the file
        return


def _noted_digest(path: Path, size: int) -> str | None:
    """The digest noted beside the upload if it still describes the data's `size` bytes."""
    try:
        noted_size, mtime_ns, hex_digest = (path.parent / _DIGEST_NOTE).read_text().split()
        if int(noted_size) != size or int(mtime_ns) != path.stat().st_mtime_ns:
            return None
    except (OSError, ValueError):
        return None
    return f"sha256:{hex_digest}"


def _hash_file(path: Path, hasher: hashlib._Hash, start: int = 0, end: int | None = None) -> None:
    with path.open("rb") as fh:
        fh.seek(start)
        remaining = end - start if end is not None else None
        while remaining is None or remaining > 0:
            chunk = fh.read(_READ_CHUNK if remaining is None else min(_READ_CHUNK, remaining))
            if not chunk:
                break
            if remaining is not None:
                remaining -= len(chunk)
            hasher.update(chunk)


def _verify_and_publish(
    source: Path, target: Path, hasher: hashlib._Hash, hashed: int, size: int, digest: str
) -> None:
    """Hash the upload's bytes from `hashed` to `size` into `hasher`, which has seen those
    before; publish the upload as `target` when it hashes to `digest`."""
    if hashed < size:
        _hash_file(source, hasher, hashed, size)
    actual = f"{hasher.name}:{hasher.hexdigest()}"
    if actual != digest:
        raise DigestMismatch(f"content hashes to {actual}")
    _publish(source, target)


def _publish(source: Path, target: Path) -> None:
    """Make the verified upload `source` the blob `target`, durably (the file's bytes, then
    its name in the folder: a blob we answered 201 for survives a power cut), and remove the
    upload's folder, which is empty then."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(source, target)
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    with contextlib.suppress(FileNotFoundError):
        (source.parent / _DIGEST_NOTE).unlink()
    try:
        source.parent.rmdir()
    except OSError:  # something else was left in it
        shutil.rmtree(source.parent, ignore_errors=True)
