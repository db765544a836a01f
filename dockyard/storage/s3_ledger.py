"""Reads and writes of the S3 upload rows (`s3_models.S3Upload`), each in a short transaction
of its own: the driver is infrastructure and never joins a request's unit of work.

A writer `claim`s a row (its version + 1 and a lease) before touching S3, then `save`s the new
state only while it still holds the claimed version; `release` gives the claim up unchanged.
A claim fails while another writer's lease runs, or when the row moved on since it was read.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dockyard.storage.s3_models import S3Upload

# How long a claim holds an upload without being renewed: a writer renews it every third of
# this while a chunk streams, so a replica that dies blocks its uploads for at most this long.
LEASE_SECONDS = 60.0


@dataclass
class Part:
    number: int
    etag: str
    size: int


@dataclass
class UploadState:
    """One upload as the row has it, plus the version a claim holds."""

    id: str
    size: int = 0
    multipart_id: str | None = None
    parts: list[Part] = field(default_factory=list)
    tail_key: str | None = None
    completed: bool = False
    version: int = 0

    @property
    def parts_size(self) -> int:
        return sum(part.size for part in self.parts)

    @property
    def tail_size(self) -> int:
        return self.size - self.parts_size if not self.completed else 0


def _state(row: S3Upload) -> UploadState:
    return UploadState(
        id=row.id,
        size=row.size,
        multipart_id=row.multipart_id,
        parts=[Part(int(n), str(e), int(s)) for n, e, s in json.loads(row.parts or "[]")],
        tail_key=row.tail_key,
        completed=row.completed,
        version=row.version,
    )


class UploadLedger:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def load(self, upload_id: str) -> UploadState | None:
        async with self._sessionmaker() as session:
            row = await session.get(S3Upload, upload_id)
            return None if row is None else _state(row)

    async def create_claimed(self, upload_id: str) -> UploadState | None:
        """The row of an upload receiving its first bytes, claimed by this writer; None when
        another replica created it first."""
        row = S3Upload(
            id=upload_id,
            parts="[]",
            version=1,
            busy_until=time.time() + LEASE_SECONDS,
            updated_at=time.time(),
        )
        async with self._sessionmaker() as session:
            session.add(row)
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()
                return None
        return UploadState(id=upload_id, version=1)

    async def claim(self, state: UploadState) -> bool:
        """Take the upload for one writer; on success `state.version` is the claimed one."""
        now = time.time()
        async with self._sessionmaker() as session:
            result = await session.execute(
                update(S3Upload)
                .where(
                    S3Upload.id == state.id,
                    S3Upload.version == state.version,
                    or_(S3Upload.busy_until.is_(None), S3Upload.busy_until < now),
                )
                .values(version=S3Upload.version + 1, busy_until=now + LEASE_SECONDS)
            )
            await session.commit()
        if getattr(result, "rowcount", 0) != 1:
            return False
        state.version += 1
        return True

    async def save(self, state: UploadState, *, keep_claim: bool = False) -> bool:
        """Write `state` and end the claim (or renew its lease: a checkpoint); False when the
        claim was lost (its lease expired and another writer took the upload)."""
        parts = json.dumps([[p.number, p.etag, p.size] for p in state.parts])
        async with self._sessionmaker() as session:
            result = await session.execute(
                update(S3Upload)
                .where(S3Upload.id == state.id, S3Upload.version == state.version)
                .values(
                    size=state.size,
                    multipart_id=state.multipart_id,
                    parts=parts,
                    tail_key=state.tail_key,
                    completed=state.completed,
                    version=state.version + 1,
                    busy_until=time.time() + LEASE_SECONDS if keep_claim else None,
                    updated_at=time.time(),
                )
            )
            await session.commit()
        if getattr(result, "rowcount", 0) != 1:
            return False
        state.version += 1
        return True

    async def renew(self, state: UploadState) -> bool:
        """Extend the claim's lease; False when it was lost."""
        async with self._sessionmaker() as session:
            result = await session.execute(
                update(S3Upload)
                .where(S3Upload.id == state.id, S3Upload.version == state.version)
                .values(busy_until=time.time() + LEASE_SECONDS)
            )
            await session.commit()
        return getattr(result, "rowcount", 0) == 1

    async def release(self, state: UploadState) -> None:
        async with self._sessionmaker() as session:
            await session.execute(
                update(S3Upload)
                .where(S3Upload.id == state.id, S3Upload.version == state.version)
                .values(busy_until=None)
            )
            await session.commit()

    async def forget(self, upload_id: str) -> None:
        async with self._sessionmaker() as session:
            await session.execute(delete(S3Upload).where(S3Upload.id == upload_id))
            await session.commit()

    async def iter_all(self) -> AsyncIterator[tuple[str, float]]:
        async with self._sessionmaker() as session:
            rows = await session.execute(
                select(S3Upload.id, S3Upload.updated_at).order_by(S3Upload.id)
            )
            for upload_id, updated in rows:
                yield upload_id, updated
