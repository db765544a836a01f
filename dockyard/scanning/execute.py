"""One scan job's work: read the image's layers (each layer digest inventoried once, its
`LayerFindings` stored and reused), merge them, match the current database, store the result and
record SCAN_COMPLETED or SCAN_FAILED; a `check` matches the stored inventories again (no layer
is read) and records SCAN_COMPLETED only when the counts changed.

No session is held while a layer is read: the CPU-bound inventory runs in a thread over a blob
streamed from the storage driver. No HTTP here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO, cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dockyard.clock import utcnow
from dockyard.events.bus import record
from dockyard.events.pipeline import ScanSummary, scan_completed_event, scan_failed_event
from dockyard.events.types import ImageRef
from dockyard.scanning.inventory import (
    InventoryError,
    LayerFindings,
    Limits,
    merge_layers,
    scan_layer,
)
from dockyard.scanning.matching import Finding, VulnDBVersionGone, match
from dockyard.scanning.models import ImageScan, LayerInventory
from dockyard.scanning.service import ScanStatus, still_current
from dockyard.scanning.vulndb import current_db
from dockyard.storage.base import BlobStore

log = logging.getLogger(__name__)

# A manifest is small (the registry refuses larger ones); this bounds what is parsed here.
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
SPOOL_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Target:
    """What a job names: one image of one repository."""

    repository_id: str
    tag: str
    manifest_digest: str


@dataclass(frozen=True)
class Context:
    sessionmaker: async_sessionmaker[AsyncSession]
    storage: BlobStore
    host: str
    limits: Limits


async def _image_row(session: AsyncSession, target: Target) -> ImageScan | None:
    return await session.scalar(
        select(ImageScan).where(
            ImageScan.repository_id == target.repository_id,
            ImageScan.tag == target.tag,
            ImageScan.manifest_digest == target.manifest_digest,
        )
    )


def _ref(row: ImageScan) -> ImageRef:
    return ImageRef(
        namespace=row.namespace,
        repository=row.repository,
        digest=row.manifest_digest,
        os=row.os,
        architecture=row.architecture,
        tag=row.tag,
    )


async def _read_blob(storage: BlobStore, digest: str, limit: int) -> bytes:
    out = bytearray()
    async for chunk in storage.read(digest):
        out += chunk
        if len(out) > limit:
            raise InventoryError(f"{digest}: larger than {limit} bytes")
    return bytes(out)


async def layer_digests(storage: BlobStore, manifest_digest: str) -> list[str]:
    """The image manifest's layers, bottom first (the manifest is read from storage)."""
    if await storage.stat(manifest_digest) is None:
        raise InventoryError(f"manifest {manifest_digest} is not in storage")
    raw = await _read_blob(storage, manifest_digest, MAX_MANIFEST_BYTES)
    try:
        doc = json.loads(raw)
        layers = [str(layer["digest"]) for layer in doc.get("layers") or []]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise InventoryError(f"manifest {manifest_digest} is not an image manifest") from exc
    return layers


async def _inventory_layer(ctx: Context, digest: str) -> LayerFindings:
    """One streaming pass over the blob, in a thread: from its file when the driver has one,
    else spooled (to disk past a few MB) from the driver's stream."""
    path = ctx.storage.local_path(digest)
    if path is not None and path.exists():

        def from_file() -> LayerFindings:
            with path.open("rb") as blob:
                return scan_layer(digest, blob, ctx.limits)

        return await asyncio.to_thread(from_file)
    if await ctx.storage.stat(digest) is None:
        raise InventoryError(f"layer {digest} is not in storage")
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
    try:
        async for chunk in ctx.storage.read(digest):
            await asyncio.to_thread(spool.write, chunk)
        spool.seek(0)
        return await asyncio.to_thread(scan_layer, digest, cast(BinaryIO, spool), ctx.limits)
    finally:
        spool.close()


async def layer_findings(ctx: Context, digests: Sequence[str]) -> list[LayerFindings]:
    """Every layer's findings: stored ones reused, the others inventoried and stored."""
    async with ctx.sessionmaker() as session:
        stored = {
            row.digest: row.findings
            for row in await session.scalars(
                select(LayerInventory).where(LayerInventory.digest.in_(list(set(digests))))
            )
        }
    out: list[LayerFindings] = []
    for digest in digests:
        if digest in stored:
            out.append(LayerFindings.from_json(stored[digest]))
            continue
        findings = await _inventory_layer(ctx, digest)
        async with ctx.sessionmaker() as session:
            await session.merge(LayerInventory(digest=digest, findings=findings.to_json()))
            await session.commit()
        stored[digest] = findings.to_json()
        out.append(findings)
    return out


def finding_json(f: Finding) -> dict[str, Any]:
    return {
        "id": f.vuln_id,
        "aliases": list(f.aliases),
        "summary": f.summary,
        "severity": f.severity,
        "cvss": f.cvss,
        "severity_note": f.severity_note,
        "package": f.package.to_json(),
        "fixed_version": f.fixed_version,
        "link": f.link,
    }


def counts(findings: Sequence[dict[str, Any]]) -> tuple[int, int, int]:
    by = {"critical": 0, "major": 0, "minor": 0}
    for f in findings:
        by[f["severity"]] = by.get(f["severity"], 0) + 1
    return by["critical"], by["major"], by["minor"]


async def _store_result(
    session: AsyncSession, row: ImageScan, layers: list[LayerFindings], now: datetime
) -> bool:
    """Match the merged inventory against the current database into `row`; whether the image
    is now checked (Completed) rather than only Scanned (no database yet)."""
    inventory = merge_layers(layers)
    row.layers = [layer.digest for layer in layers]
    row.components = [p.to_json() for p in inventory.packages]
    row.distro = f"{inventory.distro.id}:{inventory.distro.version_id}" if inventory.distro else ""
    row.error = ""
    row.updated_at = now
    db = await current_db(session)
    if db is None:
        row.status = ScanStatus.SCANNED
        return False
    try:
        matched = await match(session, inventory, db.version)
    except VulnDBVersionGone:  # replaced and purged meanwhile: match the one serving now
        db = await current_db(session)
        if db is None:
            row.status = ScanStatus.SCANNED
            return False
        matched = await match(session, inventory, db.version)
    found = [finding_json(f) for f in matched]
    row.findings = found
    row.critical, row.major, row.minor = counts(found)
    row.max_cvss = max((f["cvss"] or 0.0 for f in found), default=0.0)
    row.db_version = db.version
    row.status = ScanStatus.COMPLETED
    row.check_completed_at = now
    return True


async def fail(session: AsyncSession, ctx: Context, target: Target, error: str) -> None:
    """Mark the image Failed (0) and record SCAN_FAILED with `error`. The caller commits."""
    row = await _image_row(session, target)
    if row is None:
        return
    now = utcnow()
    row.status = ScanStatus.FAILED
    row.error = error[:2000]
    row.updated_at = now
    record(session, scan_failed_event(ctx.host, _ref(row), row.error, now))


async def run_scan(ctx: Context, target: Target) -> None:
    """Scan one image; an InventoryError ends in Failed + SCAN_FAILED (others propagate to the
    worker, which retries)."""
    async with ctx.sessionmaker() as session:
        row = await _image_row(session, target)
        if row is None:
            return
        if not await still_current(session, target.repository_id, target.tag, row.manifest_digest):
            await session.delete(row)  # the tag moved or went meanwhile: nothing to report
            await session.commit()
            return
        row.status = ScanStatus.SCANNING
        await session.commit()
    try:
        digests = await layer_digests(ctx.storage, target.manifest_digest)
        layers = await layer_findings(ctx, digests)
    except InventoryError as exc:
        log.info("scan.failed", extra={"digest": target.manifest_digest, "error": str(exc)})
        async with ctx.sessionmaker() as session:
            await fail(session, ctx, target, str(exc))
            await session.commit()
        return
    async with ctx.sessionmaker() as session:
        row = await _image_row(session, target)
        if row is None:
            return
        row.status = ScanStatus.CHECKING  # shown while the inventory is matched
        await session.commit()
    async with ctx.sessionmaker() as session:
        row = await _image_row(session, target)
        if row is None:
            return
        now = utcnow()
        if await _store_result(session, row, layers, now):
            record(session, scan_completed_event(ctx.host, _ref(row), summary_of(row), now))
        await session.commit()


def summary_of(row: ImageScan) -> ScanSummary:
    return ScanSummary(
        critical=row.critical,
        major=row.major,
        minor=row.minor,
        last_scan_status=int(row.status),
        check_completed_at=row.check_completed_at,
    )


async def run_check(ctx: Context, target: Target) -> None:
    """Match the stored inventory against the current database; SCAN_COMPLETED only when the
    counts changed (or the image had not been checked before)."""
    async with ctx.sessionmaker() as session:
        row = await _image_row(session, target)
        if row is None or not row.layers:
            return
        if not await still_current(session, target.repository_id, target.tag, row.manifest_digest):
            await session.delete(row)
            await session.commit()
            return
        digests = [str(d) for d in row.layers]
        stored = {
            r.digest: r.findings
            for r in await session.scalars(
                select(LayerInventory).where(LayerInventory.digest.in_(digests))
            )
        }
    if any(d not in stored for d in digests):
        await run_scan(ctx, target)  # an inventory went missing: read the layers again
        return
    layers = [LayerFindings.from_json(stored[d]) for d in digests]
    async with ctx.sessionmaker() as session:
        row = await _image_row(session, target)
        if row is None:
            return
        before = (row.status, row.critical, row.major, row.minor)
        now = utcnow()
        checked = await _store_result(session, row, layers, now)
        after = (row.status, row.critical, row.major, row.minor)
        if checked and after != before:
            record(session, scan_completed_event(ctx.host, _ref(row), summary_of(row), now))
        await session.commit()
