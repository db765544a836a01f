"""S3-compatible blob storage (AWS S3, MinIO, Ceph RGW): `DOCKYARD_STORAGE=s3`.

Blobs are objects `<prefix>blobs/<alg>/<2 hex>/<encoded>`, written only once verified (see
`s3_uploads.py` for uploads and their state in the database). There is no local file to send,
so GETs stream through the server, or, with `DOCKYARD_S3_REDIRECT=true`, the registry answers
307 with a presigned URL and the client reads from the object store itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dockyard.storage.digest import is_valid_digest
from dockyard.storage.s3_client import S3Config, S3Objects
from dockyard.storage.s3_ledger import UploadLedger
from dockyard.storage.s3_uploads import S3Uploads, blob_key


class S3BlobStore:
    def __init__(self, config: S3Config, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.config = config
        self.objects = S3Objects(config)
        self.uploads = S3Uploads(self.objects, UploadLedger(sessionmaker))

    async def close(self) -> None:
        await self.objects.close()

    async def check(self) -> None:
        """Raise unless the bucket answers (a missing blob's HEAD cannot tell a missing bucket)."""
        await self.objects.check_bucket()

    # -- blobs ------------------------------------------------------------------------------
    async def stat(self, digest: str) -> int | None:
        if not is_valid_digest(digest):
            return None
        found = await self.objects.head(blob_key(digest))
        return None if found is None else found[0]

    def local_path(self, digest: str) -> Path | None:
        return None

    async def modified_at(self, digest: str) -> float | None:
        if not is_valid_digest(digest):
            return None
        found = await self.objects.head(blob_key(digest))
        return None if found is None else found[1]

    async def read(
        self, digest: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        async for chunk in self.objects.stream(blob_key(digest), start, end):
            yield chunk

    async def redirect_url(self, digest: str) -> str | None:
        """A presigned GET URL for the blob when redirects are on, else None (stream it)."""
        if not self.config.redirect:
            return None
        return await self.objects.presign(blob_key(digest))

    async def put(self, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if await self.objects.head(blob_key(digest)) is None:
            await self.objects.put(blob_key(digest), data)
        return digest

    async def delete(self, digest: str) -> None:
        await self.objects.delete(blob_key(digest))

    async def iter_digests(self) -> AsyncIterator[str]:
        async for key, _at in self.objects.listing("blobs/"):
            parts = key.split("/")
            if len(parts) == 4:
                digest = f"{parts[1]}:{parts[3]}"
                if is_valid_digest(digest):
                    yield digest

    # -- uploads ----------------------------------------------------------------------------
    def iter_uploads(self) -> AsyncIterator[tuple[str, float]]:
        return self.uploads.iter_areas()

    async def upload_start(self, upload_id: str) -> None:
        await self.uploads.start(upload_id)

    async def upload_size(self, upload_id: str) -> int | None:
        return await self.uploads.size(upload_id)

    async def upload_append(
        self, upload_id: str, chunks: AsyncIterator[bytes], offset: int | None = None
    ) -> int:
        return await self.uploads.append(upload_id, chunks, offset)

    async def upload_commit(self, upload_id: str, digest: str) -> int:
        return await self.uploads.commit(upload_id, digest)

    async def upload_cancel(self, upload_id: str) -> None:
        await self.uploads.cancel(upload_id)
