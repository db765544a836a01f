"""Garbage collection: mark and sweep of manifests and blobs, safe next to a running server.

Roots are tagged manifests and anything younger than the grace period (a push in progress
uploads blobs before the manifest that references them). From the roots, index children and
referrers (manifests whose subject is kept) are kept too.

One snapshot of the database and the storage listing feeds a pure planner, and the dry run
reports that plan while the real run carries it out: both count the same things (files of
deleted manifests included). The planner also runs without a grace period, so the report says
how much was kept only because it is young. Deleting re-checks: each blob row goes with a
re-check of references inside the deleting statement, and its file only after that commit;
an orphan file only when no row names it at that moment. No HTTP here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dockyard.clock import utcnow
from dockyard.repos.models import Blob, Manifest, ManifestReference, Tag, Upload
from dockyard.storage.base import BlobStore

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]


@dataclass
class GcReport:
    dry_run: bool
    manifests_deleted: int = 0
    blobs_deleted: int = 0
    bytes_freed: int = 0
    orphan_files_deleted: int = 0
    uploads_deleted: int = 0
    grace: timedelta = timedelta(hours=1)
    # What the same collection would have removed with no grace period, and kept because young.
    kept_manifests: int = 0
    kept_blobs: int = 0
    kept_files: int = 0
    kept_uploads: int = 0

    @property
    def kept_total(self) -> int:
        return self.kept_manifests + self.kept_blobs + self.kept_files + self.kept_uploads


def _noop(_stage: str, _done: int, _total: int) -> None:
    return None


@dataclass
class _ManifestRow:
    id: int
    repository_id: str
    digest: str
    subject: str | None
    created_at: datetime


@dataclass
class _Snapshot:
    manifests: list[_ManifestRow]
    tagged: set[tuple[str, str]]
    children: dict[int, list[str]]  # manifest id -> digests of child manifests
    blob_refs: dict[int, list[str]]  # manifest id -> digests of blobs it references
    blobs: list[tuple[str, int, datetime]]  # digest, size, created
    files: dict[str, float]  # stored digests without a blob row -> modified (epoch seconds)
    upload_rows: dict[str, datetime]  # upload id -> last update
    upload_areas: dict[str, float]  # upload id in storage -> modified (epoch seconds)


@dataclass
class _Plan:
    manifests: set[int] = field(default_factory=set)
    blobs: list[tuple[str, int]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    uploads: list[str] = field(default_factory=list)


async def _snapshot(
    sessionmaker: async_sessionmaker[AsyncSession], storage: BlobStore
) -> _Snapshot:
    async with sessionmaker() as session:
        manifests = [
            _ManifestRow(*row)
            for row in (
                await session.execute(
                    select(
                        Manifest.id,
                        Manifest.repository_id,
                        Manifest.digest,
                        Manifest.subject_digest,
                        Manifest.created_at,
                    )
                )
            ).tuples()
        ]
        tagged = set((await session.execute(select(Tag.repository_id, Tag.digest))).tuples())
        children: dict[int, list[str]] = {}
        blob_refs: dict[int, list[str]] = {}
        for manifest_id, digest, kind in (
            await session.execute(
                select(
                    ManifestReference.manifest_id,
                    ManifestReference.digest,
                    ManifestReference.kind,
                )
            )
        ).tuples():
            target = children if kind == "manifest" else blob_refs if kind == "blob" else None
            if target is not None:
                target.setdefault(manifest_id, []).append(digest)
        blobs = list(
            (await session.execute(select(Blob.digest, Blob.size, Blob.created_at))).tuples()
        )
        upload_rows = dict(
            (await session.execute(select(Upload.id, Upload.updated_at))).tuples().all()
        )
    blob_digests = {digest for digest, _size, _created in blobs}
    files: dict[str, float] = {}
    async for digest in storage.iter_digests():
        if digest in blob_digests:
            continue
        modified = await storage.modified_at(digest)
        if modified is not None:
            files[digest] = modified
    upload_areas = {upload_id: modified async for upload_id, modified in storage.iter_uploads()}
    return _Snapshot(
        manifests, tagged, children, blob_refs, blobs, files, upload_rows, upload_areas
    )


def _plan(snap: _Snapshot, cutoff: datetime, stale_cutoff: datetime) -> _Plan:
    """What a collection with this cutoff removes. Pure: the dry run and the run share it."""
    plan = _Plan()
    by_key = {(m.repository_id, m.digest): m.id for m in snap.manifests}
    referrers: dict[tuple[str, str], list[int]] = {}
    for m in snap.manifests:
        if m.subject:
            referrers.setdefault((m.repository_id, m.subject), []).append(m.id)
    rows = {m.id: m for m in snap.manifests}
    # 1. Manifests: untagged, unreachable from a tag, older than the cutoff.
    stack = [
        m.id
        for m in snap.manifests
        if (m.repository_id, m.digest) in snap.tagged or m.created_at >= cutoff
    ]
    live: set[int] = set()
    while stack:
        mid = stack.pop()
        if mid in live:
            continue
        live.add(mid)
        row = rows[mid]
        for child in snap.children.get(mid, ()):
            child_id = by_key.get((row.repository_id, child))
            if child_id is not None:
                stack.append(child_id)
        stack.extend(referrers.get((row.repository_id, row.digest), ()))
    plan.manifests = set(rows) - live
    # 2. Blobs: no remaining manifest references them (or is them), older than the cutoff.
    remaining_manifests = {rows[mid].digest for mid in live}
    referenced = {digest for mid in live for digest in snap.blob_refs.get(mid, ())}
    plan.blobs = [
        (digest, size)
        for digest, size, created in snap.blobs
        if created < cutoff and digest not in referenced and digest not in remaining_manifests
    ]
    # 3. Files no row names once the manifests above are gone: the bytes of those manifests,
    # and whatever a crash left between the storage commit and the database commit.
    cutoff_ts = cutoff.timestamp()
    plan.files = sorted(
        digest
        for digest, modified in snap.files.items()
        if digest not in remaining_manifests and modified < cutoff_ts
    )
    # 4. Uploads: areas without a session, sessions idle too long, sessions without an area.
    for upload_id, modified in snap.upload_areas.items():
        updated = snap.upload_rows.get(upload_id)
        if updated is None:
            if modified < cutoff_ts:
                plan.uploads.append(upload_id)
        elif modified < stale_cutoff.timestamp() and updated < stale_cutoff:
            plan.uploads.append(upload_id)  # the last chunk arrived long ago
    plan.uploads.extend(
        upload_id
        for upload_id, updated in snap.upload_rows.items()
        if upload_id not in snap.upload_areas and updated < cutoff
    )
    return plan


async def _apply(
    sessionmaker: async_sessionmaker[AsyncSession],
    storage: BlobStore,
    plan: _Plan,
    cutoff: datetime,
    report: GcReport,
    progress: Progress,
) -> None:
    async with sessionmaker() as session:
        ids = sorted(plan.manifests)
        for start in range(0, len(ids), 500):
            batch = ids[start : start + 500]
            await session.execute(
                delete(ManifestReference).where(ManifestReference.manifest_id.in_(batch))
            )
            await session.execute(delete(Manifest).where(Manifest.id.in_(batch)))
        await session.commit()
    report.manifests_deleted = len(ids)
    for done, (digest, size) in enumerate(plan.blobs, 1):
        async with sessionmaker() as session:
            still_referenced = exists().where(
                ManifestReference.digest == digest, ManifestReference.kind == "blob"
            )
            result = await session.execute(
                delete(Blob).where(
                    Blob.digest == digest,
                    Blob.created_at < cutoff,
                    ~still_referenced,
                    ~exists().where(Manifest.digest == digest),
                )
            )
            await session.commit()
        if getattr(result, "rowcount", 0):
            await storage.delete(digest)
            report.blobs_deleted += 1
            report.bytes_freed += size
        progress("blobs", done, len(plan.blobs))
    if plan.files:
        async with sessionmaker() as session:
            # A push since the snapshot may have named one of these files again.
            known = set(
                await session.scalars(select(Blob.digest).where(Blob.digest.in_(plan.files)))
            )
            known |= set(
                await session.scalars(
                    select(Manifest.digest).where(Manifest.digest.in_(plan.files))
                )
            )
        for digest in plan.files:
            if digest not in known:
                await storage.delete(digest)
                report.orphan_files_deleted += 1
    if plan.uploads:
        async with sessionmaker() as session:
            await session.execute(delete(Upload).where(Upload.id.in_(plan.uploads)))
            await session.commit()
        for upload_id in plan.uploads:
            await storage.upload_cancel(upload_id)
        report.uploads_deleted = len(plan.uploads)


async def collect(
    sessionmaker: async_sessionmaker[AsyncSession],
    storage: BlobStore,
    *,
    grace: timedelta = timedelta(hours=1),
    upload_ttl: timedelta = timedelta(days=1),
    dry_run: bool = False,
    progress: Progress = _noop,
) -> GcReport:
    report = GcReport(dry_run=dry_run, grace=grace)
    now = utcnow()
    cutoff = now - grace
    stale_cutoff = now - upload_ttl
    snap = await _snapshot(sessionmaker, storage)
    plan = _plan(snap, cutoff, stale_cutoff)
    progress("manifests", len(snap.manifests), len(snap.manifests))
    without_grace = _plan(snap, now, stale_cutoff) if grace > timedelta(0) else plan
    report.kept_manifests = len(without_grace.manifests) - len(plan.manifests)
    report.kept_blobs = len(without_grace.blobs) - len(plan.blobs)
    report.kept_files = len(without_grace.files) - len(plan.files)
    report.kept_uploads = len(without_grace.uploads) - len(plan.uploads)
    if dry_run:
        report.manifests_deleted = len(plan.manifests)
        report.blobs_deleted = len(plan.blobs)
        report.bytes_freed = sum(size for _digest, size in plan.blobs)
        report.orphan_files_deleted = len(plan.files)
        report.uploads_deleted = len(plan.uploads)
        progress("blobs", len(plan.blobs), len(plan.blobs))
    else:
        await _apply(sessionmaker, storage, plan, cutoff, report, progress)
    log.info(
        "gc.finished",
        extra={
            "dry_run": dry_run,
            "manifests": report.manifests_deleted,
            "blobs": report.blobs_deleted,
            "bytes": report.bytes_freed,
            "files": report.orphan_files_deleted,
            "uploads": report.uploads_deleted,
            "kept_young": report.kept_total,
        },
    )
    return report
