"""Scans as jobs: what to scan (an image per platform of an index), on push (from the outbox,
through the scanner's own cursor), on demand and after a database import (a `check` of every
scanned image against the stored inventory). Takes a session, never commits, records its events
with `events.bus.record`. No HTTP here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.clock import utcnow
from dockyard.errors import DockyardError, ErrorCode
from dockyard.repos.content import get_manifest
from dockyard.repos.models import Manifest, ManifestReference, Repository, Tag
from dockyard.scanning.models import ImageScan, ScanJob

CONSUMER = "scanning"
PUSH_BATCH = 200
# PostgreSQL hands out `seq` at insert, so a transaction may commit a lower seq after a higher
# one: the cursor passes only events this old (a push's transaction is far shorter). SQLite
# serialises writers: no wait there.


class ScanStatus(IntEnum):
    """MSR's scan status codes (the seed's list), exactly."""

    FAILED = 0
    UNSCANNED = 1
    SCANNING = 2
    PENDING = 3
    SCANNED = 4
    CHECKING = 5
    COMPLETED = 6


@dataclass(frozen=True)
class Platform:
    digest: str
    os: str
    architecture: str


async def platforms(session: AsyncSession, repo: Repository, digest: str) -> list[Platform]:
    """The image manifests a tag's digest stands for: itself, or each child of an index."""
    manifest = await get_manifest(session, repo, digest)
    if manifest is None:
        return []
    rows = (
        await session.execute(
            select(ManifestReference.digest, ManifestReference.os, ManifestReference.architecture)
            .where(
                ManifestReference.manifest_id == manifest.id, ManifestReference.kind == "manifest"
            )
            .order_by(ManifestReference.os, ManifestReference.architecture)
        )
    ).all()
    if not rows:
        return [Platform(manifest.digest, manifest.os, manifest.architecture)]
    children = {
        m.digest: m
        for m in await session.scalars(
            select(Manifest).where(
                Manifest.repository_id == repo.id, Manifest.digest.in_([r[0] for r in rows])
            )
        )
    }
    out = []
    for child_digest, os_, arch in rows:
        child = children.get(child_digest)
        if child is None or not child.config_digest:
            continue  # not stored, or an artifact (attestation) rather than an image
        out.append(Platform(child_digest, os_ or child.os, arch or child.architecture))
    return out


async def _scan_row(
    session: AsyncSession, repo: Repository, tag: str, platform: Platform
) -> ImageScan:
    row = await session.scalar(
        select(ImageScan).where(
            ImageScan.repository_id == repo.id,
            ImageScan.tag == tag,
            ImageScan.manifest_digest == platform.digest,
        )
    )
    if row is None:
        row = ImageScan(
            repository_id=repo.id,
            namespace=repo.namespace,
            repository=repo.name,
            tag=tag,
            manifest_digest=platform.digest,
            os=platform.os,
            architecture=platform.architecture,
            status=ScanStatus.UNSCANNED,
            critical=0,
            major=0,
            minor=0,
            max_cvss=0.0,
            layers=[],
            components=[],
            findings=[],
            distro="",
            error="",
        )
        session.add(row)
    return row


async def enqueue_scan(
    session: AsyncSession, repo: Repository, tag: str, platform: Platform, now: datetime
) -> ScanJob:
    """A pending scan job for one image; its result row shows Pending (3) meanwhile."""
    row = await _scan_row(session, repo, tag, platform)
    row.status = ScanStatus.PENDING
    row.updated_at = now
    job = ScanJob(
        kind="scan",
        status="pending",
        repository_id=repo.id,
        tag=tag,
        manifest_digest=platform.digest,
        os=platform.os,
        architecture=platform.architecture,
        source="",
        next_attempt_at=now,
        attempts=0,
        error="",
        created_at=now,
        updated_at=now,
    )
    session.add(job)
    return job


async def still_current(session: AsyncSession, repository_id: str, tag: str, digest: str) -> bool:
    """Whether `tag` still points at the image `digest` (itself, or an index holding it)."""
    repo = await session.get(Repository, repository_id)
    if repo is None:
        return False
    current = await session.scalar(
        select(Tag.digest).where(Tag.repository_id == repo.id, Tag.name == tag)
    )
    if current is None:
        return False
    return current == digest or digest in {
        p.digest for p in await platforms(session, repo, current)
    }


async def _forget_others(
    session: AsyncSession, repo: Repository, tag: str, keep: list[Platform]
) -> None:
    """The tag moved: its scans of images it no longer points at go."""
    await session.execute(
        delete(ImageScan).where(
            ImageScan.repository_id == repo.id,
            ImageScan.tag == tag,
            ImageScan.manifest_digest.not_in([p.digest for p in keep]),
        )
    )


async def enqueue_tag(session: AsyncSession, repo: Repository, tag: str, digest: str) -> int:
    """Scan jobs for every platform of the image `tag` points at; how many."""
    now = utcnow()
    found = await platforms(session, repo, digest)
    await _forget_others(session, repo, tag, found)
    for platform in found:
        await enqueue_scan(session, repo, tag, platform, now)
    return len(found)


async def request_scan(
    session: AsyncSession, repo: Repository, tag: str, os_: str, arch: str, *, enabled: bool
) -> int:
    """POST /imagescan/scan/{ns}/{repo}/{tag}/{os}/{arch}: the tag's platforms matching os/arch
    (an image without a platform matches any)."""
    if not enabled:
        raise DockyardError(ErrorCode.SCANNING_NOT_ENABLED)
    row = await session.scalar(select(Tag).where(Tag.repository_id == repo.id, Tag.name == tag))
    if row is None:
        raise DockyardError(ErrorCode.NO_SUCH_TAG, detail={"tag": tag[:200]})
    now = utcnow()
    every = await platforms(session, repo, row.digest)
    await _forget_others(session, repo, tag, every)
    wanted = [
        p
        for p in every
        if (not p.os or p.os == os_) and (not p.architecture or p.architecture == arch)
    ]
    if not wanted:
        raise DockyardError(
            ErrorCode.NO_SUCH_TAG, f"The tag has no {os_}/{arch} image.", detail={"tag": tag[:200]}
        )
    for platform in wanted:
        await enqueue_scan(session, repo, tag, platform, now)
    return len(wanted)


async def enqueue_checks(session: AsyncSession) -> int:
    """After a database import: a `check` job for every image with an inventory (Scanned or
    Completed, or Checking when a previous check was cut short)."""
    now = utcnow()
    rows = (
        await session.execute(
            select(
                ImageScan.repository_id,
                ImageScan.tag,
                ImageScan.manifest_digest,
                ImageScan.os,
                ImageScan.architecture,
            ).where(
                ImageScan.status.in_(
                    [ScanStatus.SCANNED, ScanStatus.CHECKING, ScanStatus.COMPLETED]
                )
            )
        )
    ).all()
    for repository_id, tag, digest, os_, arch in rows:
        session.add(
            ScanJob(
                kind="check",
                status="pending",
                repository_id=repository_id,
                tag=tag,
                manifest_digest=digest,
                os=os_,
                architecture=arch,
                source="",
                next_attempt_at=now,
                attempts=0,
                error="",
                created_at=now,
                updated_at=now,
            )
        )
    return len(rows)


def enqueue_import(session: AsyncSession, source: str) -> ScanJob:
    """An uploaded database archive (a file in the data folder) for the scanner to import."""
    now = utcnow()
    job = ScanJob(
        kind="import",
        status="pending",
        repository_id=None,
        tag="",
        manifest_digest="",
        os="",
        architecture="",
        source=source,
        next_attempt_at=now,
        attempts=0,
        error="",
        created_at=now,
        updated_at=now,
    )
    session.add(job)
    return job


async def pending_jobs(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).where(ScanJob.status == "pending")) or 0)
