"""The vulnerability database: importing an OSV bundle as a new version, and which one is current.

`import_osv` streams the bundle (`osv_archive`), validates each record (`osv.parse_record`;
records that do not parse are skipped and counted) and writes its rows under a new
`db_version` in batches, one transaction each, so memory stays flat whatever the bundle's size.
The reading and JSON parsing run in a thread, a batch at a time, so an import inside the web
process does not hold its event loop. One short transaction then makes the new version current;
until that commit the previous version keeps serving. Rows of replaced versions are deleted
after the switch, in batches.

A broken bundle (unreadable, corrupt, or without a single valid record) raises
`VulnDBImportError` and leaves the current version as it was. So does an import that dies: its
version stays `importing` and the next import (or `discard_abandoned_imports`) discards it once
it is known dead: its process on this host is gone, or it has not written a batch for
`stale_after`. Only one import runs at a time (another raises `VulnDBBusyError`).

Never commits a caller's session: it opens its own from the sessionmaker (it spans many
transactions by design).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dockyard.clock import utcnow
from dockyard.scanning.osv import AffectedRow, RecordError, parse_record
from dockyard.scanning.osv_archive import ArchiveError, ArchiveLimits, iter_entries
from dockyard.scanning.vulndb_models import (
    CURRENT,
    DELETING,
    GONE,
    IMPORTING,
    VulnAffected,
    VulnDbVersion,
)

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
DELETE_BATCH_ROWS = 5000


class VulnDBImportError(Exception):
    """The bundle was not imported; the current version is unchanged. str(error) says why."""


class VulnDBBusyError(VulnDBImportError):
    """Another import is running."""


@dataclass(frozen=True)
class ImportLimits:
    max_record_bytes: int = 4 * 1024 * 1024  # one JSON entry of the bundle
    max_records: int = 2_000_000  # entries of the bundle, and records in them
    batch_rows: int = 2000  # rows written per transaction
    stale_after: timedelta = timedelta(minutes=2)  # an import silent this long is dead

    @classmethod
    def from_settings(cls, settings: Any) -> ImportLimits:
        """From `dockyard.config.Settings` (DOCKYARD_SCANNING_OSV_MAX_RECORD_BYTES, _RECORDS)."""
        return cls(
            max_record_bytes=settings.scanning_osv_max_record_bytes,
            max_records=settings.scanning_osv_max_records,
        )


@dataclass(frozen=True)
class ImportResult:
    db_version: int
    records: int  # valid records imported (withdrawn ones excluded)
    updated_at: datetime
    skipped: int = 0  # entries or records that did not parse (or were over the size limit)
    rows: int = 0  # affected-package rows written (ecosystems the scanner matches)


@dataclass(frozen=True)
class DbVersion:
    version: int
    updated_at: datetime
    records: int


@dataclass
class _Counts:
    records: int = 0
    skipped: int = 0
    withdrawn: int = 0
    rows: int = 0
    first_error: str = field(default="")


async def current_db(session: AsyncSession) -> DbVersion | None:
    """The version scans match against, or None before the first import."""
    row = (
        await session.execute(
            select(VulnDbVersion.version, VulnDbVersion.completed_at, VulnDbVersion.records)
            .where(VulnDbVersion.status == CURRENT)
            .order_by(VulnDbVersion.version.desc())
            .limit(1)
        )
    ).first()
    if row is None or row.completed_at is None:
        return None
    return DbVersion(version=row.version, updated_at=row.completed_at, records=row.records)


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:255]


def _is_dead(owner: str) -> bool:
    """Whether the import's process is known gone (only knowable on this host)."""
    host, _, pid_text = owner.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


async def discard_abandoned_imports(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock = utcnow,
    stale_after: timedelta = ImportLimits.stale_after,
) -> int:
    """Mark dead imports for deletion; raise VulnDBBusyError if a live one remains."""
    now = clock()
    discarded = 0
    async with sessionmaker() as session, session.begin():
        running = (
            await session.scalars(select(VulnDbVersion).where(VulnDbVersion.status == IMPORTING))
        ).all()
        for version in running:
            if version.heartbeat_at < now - stale_after or _is_dead(version.owner):
                version.status = DELETING
                version.error = "abandoned: the importing process stopped"
                discarded += 1
                log.warning("scanner.db.abandoned", extra={"db_version": version.version})
    if len(running) > discarded:
        raise VulnDBBusyError("another vulnerability database import is running")
    if discarded:
        await purge_deleted_versions(sessionmaker)
    return discarded


async def _begin(sessionmaker: async_sessionmaker[AsyncSession], source: str, clock: Clock) -> int:
    now = clock()
    try:
        async with sessionmaker() as session, session.begin():
            highest = await session.scalar(select(func.max(VulnDbVersion.version)))
            version = (highest or 0) + 1
            session.add(
                VulnDbVersion(
                    version=version,
                    status=IMPORTING,
                    owner=_owner(),
                    heartbeat_at=now,
                    created_at=now,
                    source=source[:255],
                )
            )
    except IntegrityError as exc:  # another import took the same number first
        raise VulnDBBusyError("another vulnerability database import is running") from exc
    return version


def _row(version: int, row: AffectedRow) -> dict[str, Any]:
    return {
        "db_version": version,
        "ecosystem": row.ecosystem,
        "name": row.name,
        "vuln_id": row.vuln_id,
        "aliases": list(row.aliases),
        "summary": row.summary,
        "ranges": row.ranges,
        "versions": row.versions,
        "severity": row.severity,
        "cvss": row.cvss,
        "severity_note": row.severity_note,
    }


def _documents(data: bytes, counts: _Counts, name: str) -> list[Any]:
    try:
        document = json.loads(data)
    except ValueError as exc:  # includes UnicodeDecodeError
        counts.skipped += 1
        counts.first_error = counts.first_error or f"{name}: not JSON ({exc})"
        return []
    return document if isinstance(document, list) else [document]


def _batches(
    source: Path, version: int, limits: ImportLimits, counts: _Counts
) -> Generator[list[dict[str, Any]], None, None]:
    """The rows to write, a batch at a time; counts what it read. Runs in a thread."""
    archive_limits = ArchiveLimits(limits.max_record_bytes, limits.max_records)
    batch: list[dict[str, Any]] = []
    for entry in iter_entries(source, archive_limits):
        if entry.too_large:
            counts.skipped += 1
            counts.first_error = counts.first_error or f"{entry.name}: over the size limit"
            continue
        for document in _documents(entry.data, counts, entry.name):
            if counts.records + counts.skipped >= limits.max_records:
                raise ArchiveError(f"the archive has more than {limits.max_records} records")
            try:
                parsed = parse_record(document)
            except RecordError as exc:
                counts.skipped += 1
                counts.first_error = counts.first_error or f"{entry.name}: {exc}"
                continue
            if parsed.withdrawn:
                counts.withdrawn += 1
                continue
            counts.records += 1
            batch.extend(_row(version, row) for row in parsed.rows)
            if len(batch) >= limits.batch_rows:
                yield batch
                batch = []
    if batch:
        yield batch


async def _write_batch(
    sessionmaker: async_sessionmaker[AsyncSession],
    version: int,
    batch: list[dict[str, Any]],
    clock: Clock,
) -> None:
    async with sessionmaker() as session, session.begin():
        alive = await session.execute(
            update(VulnDbVersion)
            .where(VulnDbVersion.version == version, VulnDbVersion.status == IMPORTING)
            .values(heartbeat_at=clock())
        )
        if alive.rowcount != 1:  # type: ignore[attr-defined]
            raise VulnDBImportError("the import was discarded as abandoned (too slow?)")
        # A Core insert of the table: one executemany per batch (the ORM's bulk path would
        # split it into many statements to fetch keys nobody needs).
        await session.execute(insert(cast(Table, VulnAffected.__table__)), batch)


async def _write_rows(
    sessionmaker: async_sessionmaker[AsyncSession],
    version: int,
    source: Path,
    limits: ImportLimits,
    clock: Clock,
) -> _Counts:
    counts = _Counts()
    batches = _batches(source, version, limits, counts)
    try:
        while (batch := await asyncio.to_thread(next, batches, None)) is not None:
            await _write_batch(sessionmaker, version, batch, clock)
            counts.rows += len(batch)
    except ArchiveError as exc:
        raise VulnDBImportError(str(exc)) from exc
    finally:
        batches.close()
    return counts


async def _switch(
    sessionmaker: async_sessionmaker[AsyncSession], version: int, counts: _Counts, clock: Clock
) -> datetime:
    """The one short transaction that makes `version` current."""
    now = clock()
    async with sessionmaker() as session, session.begin():
        mine = await session.get(VulnDbVersion, version, with_for_update=True)
        if mine is None or mine.status != IMPORTING:
            raise VulnDBImportError("the import was discarded as abandoned (too slow?)")
        await session.execute(
            update(VulnDbVersion).where(VulnDbVersion.status == CURRENT).values(status=DELETING)
        )
        mine.status = CURRENT
        mine.completed_at = now
        mine.heartbeat_at = now
        mine.records, mine.skipped, mine.rows = counts.records, counts.skipped, counts.rows
    return now


async def _fail(sessionmaker: async_sessionmaker[AsyncSession], version: int, error: str) -> None:
    try:
        async with sessionmaker() as session, session.begin():
            await session.execute(
                update(VulnDbVersion)
                .where(VulnDbVersion.version == version, VulnDbVersion.status == IMPORTING)
                .values(status=DELETING, error=error[:2000])
            )
        await purge_deleted_versions(sessionmaker)
    except Exception:  # the next import discards it as abandoned
        log.exception("scanner.db.discard_failed", extra={"db_version": version})


async def purge_deleted_versions(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """Delete the rows of `deleting` versions in batches; they become `gone`. Rows deleted."""
    async with sessionmaker() as session:
        versions = (
            await session.scalars(
                select(VulnDbVersion.version).where(VulnDbVersion.status == DELETING)
            )
        ).all()
    total = 0
    for version in versions:
        while True:
            async with sessionmaker() as session, session.begin():
                ids = (
                    select(VulnAffected.id)
                    .where(VulnAffected.db_version == version)
                    .limit(DELETE_BATCH_ROWS)
                    .scalar_subquery()
                )
                result = await session.execute(delete(VulnAffected).where(VulnAffected.id.in_(ids)))
            deleted: int = result.rowcount  # type: ignore[attr-defined]
            total += deleted
            if deleted < DELETE_BATCH_ROWS:
                break
        async with sessionmaker() as session, session.begin():
            await session.execute(
                update(VulnDbVersion)
                .where(VulnDbVersion.version == version, VulnDbVersion.status == DELETING)
                .values(status=GONE)
            )
    return total


async def import_osv(
    sessionmaker: async_sessionmaker[AsyncSession],
    source: Path,
    clock: Clock = utcnow,
    limits: ImportLimits = ImportLimits(),
) -> ImportResult:
    """Import an OSV bundle as a new current version; VulnDBImportError leaves the old one."""
    await discard_abandoned_imports(sessionmaker, clock, limits.stale_after)
    version = await _begin(sessionmaker, source.name, clock)
    try:
        counts = await _write_rows(sessionmaker, version, source, limits, clock)
        if counts.records == 0:
            reason = f" (first problem: {counts.first_error})" if counts.first_error else ""
            raise VulnDBImportError(
                f"no valid OSV record in the archive: {counts.skipped} skipped{reason}"
            )
        updated_at = await _switch(sessionmaker, version, counts, clock)
    except BaseException as exc:
        await _fail(sessionmaker, version, str(exc) or type(exc).__name__)
        raise
    log.info(
        "scanner.db.imported",
        extra={
            "db_version": version,
            "records": counts.records,
            "skipped": counts.skipped,
            "withdrawn": counts.withdrawn,
            "rows": counts.rows,
        },
    )
    await purge_deleted_versions(sessionmaker)
    return ImportResult(version, counts.records, updated_at, counts.skipped, counts.rows)
