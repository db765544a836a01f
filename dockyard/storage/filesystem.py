"""Filesystem blob storage: blobs/<alg>/<2 hex>/<encoded>, uploads/<id>/data.

Writes go to a temporary file, are fsynced, then atomically renamed, so a crash never leaves
a half-written blob visible. Upload hashers live in memory while the process runs, with the
offset they have hashed up to: when another worker process (or a previous run) appended bytes,
only the missing tail is hashed, so several workers and restarts never give a wrong digest.
How a body reaches the upload's file, and the digest note a PUT in another worker trusts, are
in `upload_bodies`.
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
from dockyard.storage.upload_bodies import (
    DIGEST_NOTE,
    NOTE_FROM,
    BodyWriter,
    note_digest,
    noted_digest,
)

_READ_CHUNK = 1024 * 1024
# A blob is sent in 256 KiB pieces: measured on a 64 MiB blob behind Granian, less CPU than
# 1 MiB pieces (or Granian's own `pathsend`, which reads the file through a thread per piece).
_SEND_CHUNK = 256 * 1024
# preadv(RWF_NOWAIT) reads only what the page cache holds and never waits for the disk, so a
# cached piece is read on the event loop without a thread hop; None where Linux lacks it.
_NOWAIT: int | None = getattr(os, "RWF_NOWAIT", None)
# Hashers kept for uploads in progress. With several worker processes a push's PATCH and PUT
# often reach different ones, and the process that took the chunks never hears of the commit:
# without a bound its hashers would pile up with every layer pushed. Beyond it the oldest is
# dropped, which only costs hashing that upload from its file if it ever comes back.
_HASHERS_KEPT = 1024


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
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)
            writer = BodyWriter(fd, hasher, size)
            try:
                await writer.write(chunks)
            finally:
                os.close(fd)
                if writer.failed:
                    # The hasher may be ahead of the file: the next request hashes the file.
                    self._hashers.pop(upload_id, None)
                else:
                    # The hasher has seen exactly what reached the file, even when the client
                    # disconnected half-way: the next chunk resumes from there.
                    self._keep_hasher(upload_id, hasher, writer.written)
            if writer.written - size >= NOTE_FROM:
                note_digest(path, writer.written, hasher)
            return writer.written

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
            if sha256 and hashed < size and noted_digest(path, size) == digest:
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
        (source.parent / DIGEST_NOTE).unlink()
    try:
        source.parent.rmdir()
    except OSError:  # something else was left in it
        shutil.rmtree(source.parent, ignore_errors=True)
