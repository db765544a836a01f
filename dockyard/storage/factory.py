"""The blob store the settings choose: the filesystem (default) or S3 (`DOCKYARD_STORAGE=s3`)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dockyard.config import Settings
from dockyard.storage.base import BlobStore
from dockyard.storage.filesystem import FilesystemBlobStore


def build_storage(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> BlobStore:
    if settings.storage == "s3":
        if not settings.s3_bucket:
            raise ValueError("DOCKYARD_STORAGE=s3 needs DOCKYARD_S3_BUCKET")
        # Imported here: the filesystem default does not load botocore.
        from dockyard.storage.s3 import S3BlobStore
        from dockyard.storage.s3_client import S3Config

        config = S3Config(
            bucket=settings.s3_bucket,
            endpoint=settings.s3_endpoint,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
            prefix=settings.s3_prefix,
            redirect=settings.s3_redirect,
        )
        return S3BlobStore(config, sessionmaker)
    return FilesystemBlobStore(settings.data_dir / "storage")


async def storage_problem(storage: BlobStore) -> str | None:
    """Why the store cannot be used, in one line, or None (checked once at start)."""
    check = getattr(storage, "check", None)
    if check is None:
        return None
    try:
        await check()
    except Exception as exc:  # any failure of the check is the answer: it is printed, not raised
        return f"{type(exc).__name__}: {exc}"[:300]
    return None
