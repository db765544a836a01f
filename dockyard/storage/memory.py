"""An in-memory BlobStore for unit tests: same contract as the filesystem driver, no disk."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

from dockyard.storage.base import DigestMismatch, UploadOffsetMismatch
from dockyard.storage.digest import algorithm, is_valid_digest


class MemoryBlobStore:
    def __init__(self) -> None:
        self.blobs: dict[str, tuple[bytes, float]] = {}
        self.uploads: dict[str, tuple[bytearray, float]] = {}

    async def stat(self, digest: str) -> int | None:
        entry = self.blobs.get(digest)
        return None if entry is None else len(entry[0])

    def local_path(self, digest: str) -> Path | None:
        return None

    async def read(
        self, digest: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        data = self.blobs[digest][0]
        yield data[start : (len(data) if end is None else end + 1)]

    async def put(self, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        self.blobs.setdefault(digest, (bytes(data), time.time()))
        return digest

    async def delete(self, digest: str) -> None:
        self.blobs.pop(digest, None)

    async def iter_digests(self) -> AsyncIterator[str]:
        for digest in sorted(self.blobs):
            yield digest

    async def modified_at(self, digest: str) -> float | None:
        entry = self.blobs.get(digest)
        return None if entry is None else entry[1]

    async def iter_uploads(self) -> AsyncIterator[tuple[str, float]]:
        for upload_id, (_data, at) in sorted(self.uploads.items()):
            yield upload_id, at

    async def upload_start(self, upload_id: str) -> None:
        self.uploads[upload_id] = (bytearray(), time.time())

    async def upload_size(self, upload_id: str) -> int | None:
        entry = self.uploads.get(upload_id)
        return None if entry is None else len(entry[0])

    async def upload_append(
        self, upload_id: str, chunks: AsyncIterator[bytes], offset: int | None = None
    ) -> int:
        if upload_id not in self.uploads:
            raise FileNotFoundError(upload_id)
        buffer = self.uploads[upload_id][0]
        if offset is not None and offset != len(buffer):
            raise UploadOffsetMismatch(f"upload is at {len(buffer)}, chunk starts at {offset}")
        async for chunk in chunks:
            buffer += chunk
        self.uploads[upload_id] = (buffer, time.time())
        return len(buffer)

    async def upload_commit(self, upload_id: str, digest: str) -> int:
        if upload_id not in self.uploads:
            raise FileNotFoundError(upload_id)
        if not is_valid_digest(digest):
            raise ValueError(f"invalid digest {digest!r}")
        data = bytes(self.uploads[upload_id][0])
        actual = f"{algorithm(digest)}:{hashlib.new(algorithm(digest), data).hexdigest()}"
        if actual != digest:
            raise DigestMismatch(f"content hashes to {actual}")
        self.blobs.setdefault(digest, (data, time.time()))
        del self.uploads[upload_id]
        return len(data)

    async def upload_cancel(self, upload_id: str) -> None:
        self.uploads.pop(upload_id, None)
