"""Blob links and uploads of a repository: which verified blobs a repository may serve, which
digests a manifest references that are not there, and the upload sessions' rows.

Takes a session; the caller commits. No HTTP, no storage I/O, no events here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from dockyard.clock import utcnow
from dockyard.repos.models import Blob, Manifest, RepositoryBlob, Upload

# -- helpers ------------------------------------------------------------------------------------


async def _insert_ignore(
    session: AsyncSession, model: type[Any], values: dict[str, Any], keys: list[str]
) -> None:
    """INSERT … ON CONFLICT DO NOTHING: concurrent uploads of one blob must not collide."""
    dialect = session.get_bind().dialect.name
    insert_fn: Any = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert_fn(model).values(**values).on_conflict_do_nothing(index_elements=keys)
    await session.execute(stmt)


async def blob_size(session: AsyncSession, repository_id: str, digest: str) -> int | None:
    """The size of a blob linked to this repository, or None when it is not visible here."""
    stmt = (
        select(Blob.size)
        .join(RepositoryBlob, RepositoryBlob.digest == Blob.digest)
        .where(RepositoryBlob.repository_id == repository_id, Blob.digest == digest)
    )
    size: int | None = await session.scalar(stmt)
    return size


async def link_blob(session: AsyncSession, repository_id: str, digest: str, size: int) -> None:
    """Record a verified blob (if new) and make it visible in the repository."""
    now = utcnow()
    await _insert_ignore(
        session, Blob, {"digest": digest, "size": size, "created_at": now}, ["digest"]
    )
    await _insert_ignore(
        session,
        RepositoryBlob,
        {"repository_id": repository_id, "digest": digest, "created_at": now},
        ["repository_id", "digest"],
    )


async def unlink_blob(session: AsyncSession, repository_id: str, digest: str) -> bool:
    result: Any = await session.execute(
        delete(RepositoryBlob).where(
            RepositoryBlob.repository_id == repository_id, RepositoryBlob.digest == digest
        )
    )
    return bool(result.rowcount)


async def _missing(
    session: AsyncSession,
    column: InstrumentedAttribute[str],
    repository_column: InstrumentedAttribute[str],
    repository_id: str,
    digests: Iterable[str],
) -> list[str]:
    wanted = sorted(set(digests))
    if not wanted:
        return []
    found = set(
        await session.scalars(
            select(column).where(repository_column == repository_id, column.in_(wanted))
        )
    )
    return [d for d in wanted if d not in found]


async def missing_blobs(
    session: AsyncSession, repository_id: str, digests: Iterable[str]
) -> list[str]:
    """The digests not linked as blobs in the repository (sorted)."""
    return await _missing(
        session, RepositoryBlob.digest, RepositoryBlob.repository_id, repository_id, digests
    )


async def missing_manifests(
    session: AsyncSession, repository_id: str, digests: Iterable[str]
) -> list[str]:
    """The digests that are not manifests of the repository (sorted)."""
    return await _missing(session, Manifest.digest, Manifest.repository_id, repository_id, digests)


async def create_upload(session: AsyncSession, repository_id: str) -> Upload:
    now = utcnow()
    upload = Upload(repository_id=repository_id, size=0, created_at=now, updated_at=now)
    session.add(upload)
    await session.flush()
    return upload


async def get_upload(session: AsyncSession, repository_id: str, upload_id: str) -> Upload | None:
    upload = await session.get(Upload, upload_id)
    if upload is None or upload.repository_id != repository_id:
        return None
    return upload


async def delete_upload(session: AsyncSession, upload_id: str) -> None:
    await session.execute(delete(Upload).where(Upload.id == upload_id))
