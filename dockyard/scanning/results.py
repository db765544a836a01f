"""The read side of scanning: an image's scans by tag or digest, MSR's ScanSummary objects, the
searches by CVE and by component, the per-tag counts, the CSV export and the scanner status.
Reads only; no events, no HTTP here.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from dockyard.accounts.principal import Principal
from dockyard.clock import rfc3339, utcnow
from dockyard.repos import service as repos
from dockyard.repos.models import Manifest, ManifestReference, Repository, Tag
from dockyard.scanning import replicas
from dockyard.scanning.imports import SCANNER_VERSION
from dockyard.scanning.models import ImageScan, ScanJob
from dockyard.scanning.service import ScanStatus, platforms
from dockyard.scanning.vulndb import current_db
from dockyard.scanning.vulndb_models import IMPORTING, VulnDbVersion

_DIGEST_PREFIXES = ("sha256:", "sha384:", "sha512:")
SEARCH_LIMIT = 500


async def _rows_for_tag(session: AsyncSession, repo: Repository, tag: Tag) -> list[ImageScan]:
    out: list[ImageScan] = []
    for platform in await platforms(session, repo, tag.digest):
        row = await session.scalar(
            select(ImageScan).where(
                ImageScan.repository_id == repo.id,
                ImageScan.tag == tag.name,
                ImageScan.manifest_digest == platform.digest,
            )
        )
        if row is None:  # never scanned: Unscanned (1), counts zero
            row = ImageScan(
                repository_id=repo.id,
                namespace=repo.namespace,
                repository=repo.name,
                tag=tag.name,
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
                db_version=None,
                check_completed_at=None,
            )
        out.append(row)
    return out


async def image_scans(
    session: AsyncSession, repo: Repository, reference: str
) -> list[ImageScan] | None:
    """The scans of a tag (one per platform) or of every tag on a digest; None: no such
    reference. Unscanned images appear with status 1."""
    if reference.startswith(_DIGEST_PREFIXES):
        tags = list(
            await session.scalars(
                select(Tag).where(Tag.repository_id == repo.id, Tag.digest == reference)
            )
        )
        if not tags:
            found = list(
                await session.scalars(
                    select(ImageScan).where(
                        ImageScan.repository_id == repo.id,
                        ImageScan.manifest_digest == reference,
                    )
                )
            )
            return found or None
    else:
        tag = await session.scalar(
            select(Tag).where(Tag.repository_id == repo.id, Tag.name == reference)
        )
        if tag is None:
            return None
        tags = [tag]
    out: list[ImageScan] = []
    for tag in sorted(tags, key=lambda t: t.name):
        out += await _rows_for_tag(session, repo, tag)
    return out


def _components(row: ImageScan) -> list[dict[str, Any]]:
    vulns: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for f in row.findings or []:
        pkg = f.get("package") or {}
        key = (pkg.get("ecosystem", ""), pkg.get("name", ""), pkg.get("version", ""))
        vulns.setdefault(key, []).append(
            {k: f.get(k) for k in ("id", "severity", "cvss", "fixed_version", "link", "summary")}
        )
    out = []
    for pkg in row.components or []:
        key = (pkg.get("ecosystem", ""), pkg.get("name", ""), pkg.get("version", ""))
        out.append({**pkg, "vulns": vulns.get(key, [])})
    return out


def scan_summary(row: ImageScan, current_version: int | None) -> dict[str, Any]:
    """MSR's ScanSummary {scanStatus, scannedImage, shouldRescan}."""
    licenses = sorted({str(p["license"]) for p in row.components or [] if p.get("license")})
    per_layer: dict[str, int] = {}
    for p in row.components or []:
        per_layer[p.get("layer", "")] = per_layer.get(p.get("layer", ""), 0) + 1
    stale = current_version is not None and row.db_version != current_version
    return {
        "scanStatus": int(row.status),
        "scannedImage": {
            "namespace": row.namespace,
            "repository": row.repository,
            "tag": row.tag,
            "manifestDigest": row.manifest_digest,
            "os": row.os,
            "architecture": row.architecture,
            "totalVulnCount": {"critical": row.critical, "major": row.major, "minor": row.minor},
            "licenses": licenses,
            "layers": [
                {"digest": str(d), "components": per_layer.get(str(d), 0)} for d in row.layers or []
            ],
            "components": _components(row),
            "cves": list(row.findings or []),
            "maxCVSSValue": float(row.max_cvss or 0.0),
            "scannerFingerprint": f"{SCANNER_VERSION}/db{row.db_version or 0}",
            "vulnOverrides": [],
            "checkCompletedAt": rfc3339(row.check_completed_at),
            "error": row.error or "",
        },
        "shouldRescan": bool(row.status == ScanStatus.FAILED or (row.layers and stale)),
    }


def vuln_summary(row: ImageScan | None) -> dict[str, Any]:
    """MSR's OldScanSummary counts, as the tag objects carry them."""
    if row is None:
        return {
            "critical": 0,
            "major": 0,
            "minor": 0,
            "last_scan_status": int(ScanStatus.UNSCANNED),
            "check_completed_at": rfc3339(None),
        }
    return {
        "critical": row.critical,
        "major": row.major,
        "minor": row.minor,
        "last_scan_status": int(row.status),
        "check_completed_at": rfc3339(row.check_completed_at),
    }


async def search(
    session: AsyncSession, principal: Principal | None, *, cve: str = "", component: str = ""
) -> list[ImageScan]:
    """Scanned images (readable by the caller) with a finding `cve` (id or alias) or a component
    named `component` (package or binary name)."""
    readable = repos.readable_repositories(principal).with_only_columns(Repository.id)
    column = ImageScan.findings if cve else ImageScan.components
    needle = cve or component
    stmt = (
        select(ImageScan)
        .where(
            ImageScan.repository_id.in_(readable.scalar_subquery()),
            cast(column, String).contains(needle, autoescape=True),
        )
        .order_by(ImageScan.namespace, ImageScan.repository, ImageScan.tag)
        .limit(SEARCH_LIMIT)
    )
    out = []
    for row in await session.scalars(stmt):
        if (
            cve
            and any(
                f.get("id") == cve or cve in (f.get("aliases") or []) for f in row.findings or []
            )
        ) or (
            component
            and any(component in (p.get("name"), p.get("binary")) for p in row.components or [])
        ):
            out.append(row)
    return out


def export_csv(rows: Sequence[ImageScan]) -> str:
    """One line per finding: image, platform, vulnerability, severity, package, versions."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\r\n")
    out.writerow(
        [
            "image", "platform", "vulnerability", "aliases", "severity", "cvss", "ecosystem",
            "package", "installed_version", "fixed_version", "layer", "link",
        ]
    )  # fmt: skip
    for row in rows:
        image = f"{row.namespace}/{row.repository}:{row.tag}@{row.manifest_digest}"
        platform = f"{row.os}/{row.architecture}".strip("/")
        for f in row.findings or []:
            pkg = f.get("package") or {}
            out.writerow(
                [
                    image, platform, f.get("id", ""), " ".join(f.get("aliases") or []),
                    f.get("severity", ""), "" if f.get("cvss") is None else f["cvss"],
                    pkg.get("ecosystem", ""), pkg.get("name", ""), pkg.get("version", ""),
                    f.get("fixed_version") or "", pkg.get("layer", ""), f.get("link", ""),
                ]
            )  # fmt: skip
    return buf.getvalue()


async def _last_import_failed(session: AsyncSession) -> bool:
    """Whether the last finished import failed. Read from the database versions, whose failure
    is committed before SCANNER_UPDATE_COMPLETED is announced (the import job is marked after),
    so the status and the webhook agree; the jobs answer when no version was ever begun."""
    last = (
        await session.execute(
            select(VulnDbVersion.error)
            .where(VulnDbVersion.status != IMPORTING)
            .order_by(VulnDbVersion.version.desc())
            .limit(1)
        )
    ).first()
    if last is not None:
        return bool(last.error)
    status = await session.scalar(
        select(ScanJob.status)
        .where(ScanJob.kind == "import", ScanJob.status != "pending")
        .order_by(ScanJob.updated_at.desc())
        .limit(1)
    )
    return status == "failed"


async def scanner_status(
    session: AsyncSession, enabled: bool, now: datetime | None = None
) -> dict[str, Any]:
    """GET /imagescan/status."""
    now = now or utcnow()
    db = await current_db(session)
    live = await replicas.live(session, now)
    state = "disabled" if not enabled else ("ready" if db else "no_database")
    return {
        "state": state,
        "scanner_version": SCANNER_VERSION,
        "scannerUpdatedAt": rfc3339(db.updated_at if db else None),
        "db_version": db.version if db else 0,
        "db_updated_at": rfc3339(db.updated_at if db else None),
        "lastDBUpdateFailed": await _last_import_failed(session),
        "lastVulnOverridesDBUpdateFailed": False,
        "replicas": {
            r.replica_id: {
                "db_updated_at": rfc3339(r.db_updated_at),
                "version": r.version,
                "replica_id": r.replica_id,
            }
            for r in live
        },
    }


async def _scan_digests(
    session: AsyncSession, repo: Repository, digests: set[str]
) -> dict[str, set[str]]:
    """Each digest -> the manifests its scans are stored under: itself and, for an index, each
    stored child image (with a config; an attestation is not scanned): `platforms` for many
    digests in one statement."""
    out = {digest: {digest} for digest in digests}
    if not digests:
        return out
    child = aliased(Manifest)
    rows = await session.execute(
        select(Manifest.digest, ManifestReference.digest)
        .join(ManifestReference, ManifestReference.manifest_id == Manifest.id)
        .join(
            child,
            (child.repository_id == Manifest.repository_id)
            & (child.digest == ManifestReference.digest),
        )
        .where(
            Manifest.repository_id == repo.id,
            Manifest.digest.in_(sorted(digests)),
            ManifestReference.kind == "manifest",
            child.config_digest != "",
        )
    )
    for parent, child_digest in rows:
        out[parent].add(child_digest)
    return out


_SUMMARY_COLUMNS = (
    ImageScan.tag,
    ImageScan.manifest_digest,
    ImageScan.status,
    ImageScan.critical,
    ImageScan.major,
    ImageScan.minor,
    ImageScan.check_completed_at,
)


async def tag_vuln_summaries(
    session: AsyncSession, repo: Repository, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """`vuln_summary` of tag objects (registered with `repos.listing`): the image's scan, or the
    sum over an index's platforms (the least advanced status, the latest check).

    Two statements for any number of tags (a page's): the platforms of every digest, then the
    counts of every tag's scans (columns only: a scan's findings can be large)."""
    if not keys:
        return {}
    under = await _scan_digests(session, repo, {digest for _tag, digest in keys})
    found: dict[str, list[Any]] = {}
    scans = await session.execute(
        select(*_SUMMARY_COLUMNS).where(
            ImageScan.repository_id == repo.id,
            ImageScan.tag.in_(sorted({tag for tag, _digest in keys})),
        )
    )
    for row in scans:
        found.setdefault(row.tag, []).append(row)
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for tag, digest in keys:
        rows = [r for r in found.get(tag, []) if r.manifest_digest in under[digest]]
        out[(tag, digest)] = {"vuln_summary": _summed(rows)}
    return out


def _summed(rows: list[Any]) -> dict[str, Any]:
    """One scan's counts, or the sum over several platforms' scans."""
    if not rows:
        return vuln_summary(None)
    done = [r.check_completed_at for r in rows if r.check_completed_at is not None]
    return {
        "critical": sum(r.critical for r in rows),
        "major": sum(r.major for r in rows),
        "minor": sum(r.minor for r in rows),
        "last_scan_status": min(int(r.status) for r in rows),
        "check_completed_at": rfc3339(max(done) if done else None),
    }
