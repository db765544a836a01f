"""Garbage collection: mark and sweep of manifests and blobs, safe next to a running server.

Roots are tagged manifests and anything younger than the grace period (a push in progress
uploads blobs before the manifest that references them). From the roots, index children and
referrers (manifests whose subject is kept) are kept too. Each blob row is deleted with a
re-check of references inside the deleting statement, and its file only after that commit.
No HTTP here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

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


def _noop(_stage: str, _done: int, _total: int) -> None:
    return None


async def _sweep_manifests(
    session: AsyncSession, cutoff_ids: set[int], report: GcReport, progress: Progress
) -> set[int]:
    """Ids of manifests to delete (all unreachable manifests older than the cutoff)."""
    rows = (
        await session.execute(
            select(Manifest.id, Manifest.repository_id, Manifest.digest, Manifest.subject_digest)
        )
    ).all()
    tagged = set((await session.execute(select(Tag.repository_id, Tag.digest))).tuples().all())
    children: dict[int, list[str]] = {}
    for manifest_id, digest in (
        await session.execute(
            select(ManifestReference.manifest_id, ManifestReference.digest).where(
                ManifestReference.kind == "manifest"
            )
        )
    ).tuples():
        children.setdefault(manifest_id, []).append(digest)
    by_key = {(repo, digest): mid for mid, repo, digest, _subject in rows}
    referrers: dict[tuple[str, str], list[int]] = {}
    for mid, repo, _digest, subject in rows:
        if subject:
            referrers.setdefault((repo, subject), []).append(mid)
    repo_of = {mid: repo for mid, repo, _d, _s in rows}
    digest_of = {mid: digest for mid, _r, digest, _s in rows}
    stack = [
        mid
        for mid, repo, digest, _subject in rows
        if (repo, digest) in tagged or mid not in cutoff_ids
    ]
    live: set[int] = set()
    while stack:
        mid = stack.pop()
        if mid in live:
            continue
        live.add(mid)
        repo = repo_of[mid]
        for child in children.get(mid, ()):
            child_id = by_key.get((repo, child))
            if child_id is not None:
                stack.append(child_id)
        stack.extend(referrers.get((repo, digest_of[mid]), ()))
    dead = {mid for mid, _r, _d, _s in rows if mid not in live}
    progress("manifests", len(rows), len(rows))
    return dead


async def collect(
    sessionmaker: async_sessionmaker[AsyncSession],
    storage: BlobStore,
    *,
    grace: timedelta = timedelta(hours=1),
    upload_ttl: timedelta = timedelta(days=1),
    dry_run: bool = False,
    progress: Progress = _noop,
) -> GcReport:
    report = GcReport(dry_run=dry_run)
    now = utcnow()
    cutoff = now - grace
    # 1. Manifests: untagged, unreferenced, older than the grace period.
    async with sessionmaker() as session:
        old_ids = set(
            await session.scalars(select(Manifest.id).where(Manifest.created_at < cutoff))
        )
        dead = await _sweep_manifests(session, old_ids, report, progress)
        report.manifests_deleted = len(dead)
        if dead and not dry_run:
            ids = sorted(dead)
            for start in range(0, len(ids), 500):
                batch = ids[start : start + 500]
                await session.execute(
                    delete(ManifestReference).where(ManifestReference.manifest_id.in_(batch))
                )
                await session.execute(delete(Manifest).where(Manifest.id.in_(batch)))
            await session.commit()
        manifest_digests = set(await session.scalars(select(Manifest.digest).distinct()))
        if dry_run and dead:
            kept = {
                d
                for mid, d in (await session.execute(select(Manifest.id, Manifest.digest))).tuples()
                if mid not in dead
            }
            manifest_digests = kept
        referenced_q = select(ManifestReference.digest).where(ManifestReference.kind == "blob")
        if dry_run and dead:
            referenced_q = referenced_q.where(ManifestReference.manifest_id.not_in(sorted(dead)))
        referenced = set(await session.scalars(referenced_q.distinct()))
        candidates = (
            (await session.execute(select(Blob.digest, Blob.size).where(Blob.created_at < cutoff)))
            .tuples()
            .all()
        )
    # 2. Blobs: no manifest references them and they are older than the grace period.
    garbage = [(d, s) for d, s in candidates if d not in referenced and d not in manifest_digests]
    for done, (digest, size) in enumerate(garbage, 1):
        if dry_run:
            report.blobs_deleted += 1
            report.bytes_freed += size
        else:
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
        progress("blobs", done, len(garbage))
    # 3. Files without a record (a crash between storage commit and database commit).
    async with sessionmaker() as session:
        known = set(await session.scalars(select(Blob.digest)))
        known |= set(await session.scalars(select(Manifest.digest).distinct()))
        upload_rows = {
            upload_id: updated
            for upload_id, updated in (
                await session.execute(select(Upload.id, Upload.updated_at))
            ).tuples()
        }
    cutoff_ts = cutoff.timestamp()
    async for digest in storage.iter_digests():
        if digest in known:
            continue
        modified = await storage.modified_at(digest)
        if modified is not None and modified < cutoff_ts:
            report.orphan_files_deleted += 1
            if not dry_run:
                await storage.delete(digest)
    # 4. Abandoned uploads: stale sessions and upload areas without a session.
    stale_cutoff = now - upload_ttl
    stale: list[str] = []
    on_disk: set[str] = set()
    async for upload_id, modified in storage.iter_uploads():
        on_disk.add(upload_id)
        if upload_id not in upload_rows:
            if modified < cutoff_ts:
                stale.append(upload_id)
        elif modified < stale_cutoff.timestamp() and upload_rows[upload_id] < stale_cutoff:
            stale.append(upload_id)  # the last chunk arrived long ago
    stale.extend(
        uid for uid, updated in upload_rows.items() if uid not in on_disk and updated < cutoff
    )
    report.uploads_deleted = len(stale)
    if stale and not dry_run:
        async with sessionmaker() as session:
            await session.execute(delete(Upload).where(Upload.id.in_(stale)))
            await session.commit()
        for upload_id in stale:
            await storage.upload_cancel(upload_id)
    log.info(
        "gc.finished",
        extra={
            "dry_run": dry_run,
            "manifests": report.manifests_deleted,
            "blobs": report.blobs_deleted,
            "bytes": report.bytes_freed,
        },
    )
    return report
