"""The blob storage port. Content-addressed blobs plus resumable upload areas.

Drivers must never hold a whole blob in memory and must make a blob visible only after its
digest is verified. An S3 driver implements the same protocol (multipart uploads for the
upload area; `local_path` returns None so responses stream instead of using sendfile).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol, runtime_checkable


class DigestMismatch(Exception):
    """The uploaded bytes do not hash to the digest the client claimed."""


class UploadOffsetMismatch(Exception):
    """A chunk does not start where the upload currently ends."""


class BlobStore(Protocol):
    async def stat(self, digest: str) -> int | None:
        """The blob's size, or None when it is not stored."""
        ...

    def local_path(self, digest: str) -> Path | None:
        """A file path the server may send directly (zero-copy), when the driver has one."""
        ...

    def read(self, digest: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Bytes [start, end] inclusive (end None: to the end)."""
        ...

    async def put(self, data: bytes) -> str:
        """Store small content (manifests) and return its sha256 digest."""
        ...

    async def delete(self, digest: str) -> None: ...

    def iter_digests(self) -> AsyncIterator[str]: ...

    async def modified_at(self, digest: str) -> float | None:
        """When the blob was written (epoch seconds), for gc's grace period; None if absent."""
        ...

    def iter_uploads(self) -> AsyncIterator[tuple[str, float]]:
        """Every upload area in storage as (upload id, last modified epoch seconds)."""
        ...

    async def upload_start(self, upload_id: str) -> None: ...

    async def upload_size(self, upload_id: str) -> int | None:
        """Bytes received so far, or None when no such upload exists."""
        ...

    async def upload_append(
        self, upload_id: str, chunks: AsyncIterator[bytes], offset: int | None = None
    ) -> int:
        """Append a stream; with `offset`, refuse (UploadOffsetMismatch) unless it is the end.
        Returns the new size."""
        ...

    async def upload_commit(self, upload_id: str, digest: str) -> int:
        """Verify the upload hashes to `digest` (DigestMismatch if not), then make it the blob.
        Returns the blob size."""
        ...

    async def upload_cancel(self, upload_id: str) -> None: ...


@runtime_checkable
class BlobRedirects(Protocol):
    """A driver whose blobs clients may fetch from elsewhere (S3 with presigned URLs)."""

    async def redirect_url(self, digest: str) -> str | None:
        """A URL to send the client to for the blob's bytes, or None to serve them here."""
        ...
