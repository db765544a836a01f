"""Blob links and uploads of a repository: which verified blobs a repository may serve, which
digests a manifest references that are not there, and the upload sessions' rows.

Takes a session; the caller commits. No HTTP, no storage I/O, no events here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import Executable, Table, bindparam, delete, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from dockyard.clock import utcnow
from dockyard.db.base import new_uuid
from dockyard.repos.models import Blob, Manifest, RepositoryBlob, Upload

# -- statements -----------------------------------------------------------------------------
#
# Each blob PUT links a blob and drops its upload row, each chunked POST adds one: built once
# (per dialect for the ON CONFLICT forms) on the tables, not per call on the ORM classes. A
# statement built per call cost about a third of a small blob's PUT in construction and cache
# keys, and the ORM's unit of work (add + flush) a fifth of a POST; the values arrive as
# execution parameters, so the compiled form is cached once too.

_BLOBS = cast(Table, Blob.__table__)
_REPOSITORY_BLOBS = cast(Table, RepositoryBlob.__table__)
_UPLOADS = cast(Table, Upload.__table__)

_UPLOAD_INSERT = insert(_UPLOADS)
_UPLOAD_DELETE = delete(_UPLOADS).where(_UPLOADS.c.id == bindparam("upload_id"))

# dialect name -> (INSERT blob, INSERT repository link), both ON CONFLICT DO NOTHING
_LINK_STATEMENTS: dict[str, tuple[Executable, Executable]] = {}


def _link_statements(session: AsyncSession) -> tuple[Executable, Executable]:
    """INSERT … ON CONFLICT DO NOTHING for both link rows: concurrent uploads of one blob must
    not collide."""
    dialect = session.get_bind().dialect.name
    statements = _LINK_STATEMENTS.get(dialect)
    if statements is None:
        insert_fn: Any = pg_insert if dialect == "postgresql" else sqlite_insert
        statements = (
            insert_fn(_BLOBS).on_conflict_do_nothing(index_elements=["digest"]),
            insert_fn(_REPOSITORY_BLOBS).on_conflict_do_nothing(
                index_elements=["repository_id", "digest"]
            ),
        )
        _LINK_STATEMENTS[dialect] = statements
    return statements


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
    insert_blob, insert_link = _link_statements(session)
    await session.execute(insert_blob, {"digest": digest, "size": size, "created_at": now})
    await session.execute(
        insert_link, {"repository_id": repository_id, "digest": digest, "created_at": now}
    )


# PostgreSQL: a PUT's three writes as one statement (one round trip instead of three). The link's
# foreign key is checked at the end of the statement, when the blob row of the first part is
# there (the sub-statements share a snapshot, but the check sees the statement's own writes).
_PUBLISH_POSTGRESQL = text(
    "WITH blob AS ("
    " INSERT INTO blobs (digest, size, created_at) VALUES (:digest, :size, :created_at)"
    " ON CONFLICT (digest) DO NOTHING"
    "), upload AS (DELETE FROM uploads WHERE id = :upload_id) "
    "INSERT INTO repository_blobs (repository_id, digest, created_at)"
    " VALUES (:repository_id, :digest, :created_at)"
    " ON CONFLICT (repository_id, digest) DO NOTHING"
).bindparams(
    bindparam("created_at", type_=_BLOBS.c.created_at.type),
    bindparam("size", type_=_BLOBS.c.size.type),
)


async def publish_upload(
    session: AsyncSession, repository_id: str, digest: str, size: int, upload_id: str
) -> None:
    """`link_blob`, and the upload's session row gone (a chunked upload's PUT)."""
    if session.get_bind().dialect.name != "postgresql":
        # SQLite runs no writes in a WITH: the same three statements, one by one.
        await link_blob(session, repository_id, digest, size)
        await delete_upload(session, upload_id)
        return
    await session.execute(
        _PUBLISH_POSTGRESQL,
        {
            "digest": digest,
            "size": size,
            "created_at": utcnow(),
            "upload_id": upload_id,
            "repository_id": repository_id,
        },
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


async def create_upload(session: AsyncSession, repository_id: str) -> str:
    """A new upload session's row in the repository; its id."""
    now = utcnow()
    upload_id = new_uuid()
    await session.execute(
        _UPLOAD_INSERT,
        {
            "id": upload_id,
            "repository_id": repository_id,
            "size": 0,
            "created_at": now,
            "updated_at": now,
        },
    )
    return upload_id


async def get_upload(session: AsyncSession, repository_id: str, upload_id: str) -> Upload | None:
    upload = await session.get(Upload, upload_id)
    if upload is None or upload.repository_id != repository_id:
        return None
    return upload


async def delete_upload(session: AsyncSession, upload_id: str) -> None:
    await session.execute(_UPLOAD_DELETE, {"upload_id": upload_id})
