"""What the web UI shows of scanning, shaped for templates: a tag's scans per platform (status
name, counts, components, vulnerabilities worst first), the Tags tab's counts, and the scanner's
database and replicas for the admin page. Reads only, over `results`; no HTTP here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.repos.models import Repository
from dockyard.scanning import results
from dockyard.scanning.models import ScanJob, ScannerReplica
from dockyard.scanning.replicas import LIVE_SECONDS
from dockyard.scanning.service import ScanStatus
from dockyard.scanning.vulndb import current_db

# The seed's names of the status codes 0-6.
STATUS_NAMES = {int(s): s.name.title() for s in ScanStatus}
_SEVERITY_ORDER = {"critical": 0, "major": 1, "minor": 2}


def status_name(code: int) -> str:
    return STATUS_NAMES.get(int(code), "Unknown")


@dataclass(frozen=True)
class Counts:
    status: int
    critical: int
    major: int
    minor: int

    @property
    def status_name(self) -> str:
        return status_name(self.status)

    @property
    def has_results(self) -> bool:
        return self.status in (ScanStatus.SCANNED, ScanStatus.CHECKING, ScanStatus.COMPLETED)


@dataclass(frozen=True)
class PlatformScan:
    digest: str
    os: str
    architecture: str
    counts: Counts
    components: list[dict[str, Any]]
    vulnerabilities: list[dict[str, Any]]
    error: str
    db_version: int | None
    checked_at: datetime | None


async def tag_counts(
    session: AsyncSession, repo: Repository, tags: Sequence[tuple[str, str]]
) -> dict[str, Counts]:
    """Tag name -> its scan status and counts (an index: summed over its platforms), as the
    tags API's `vuln_summary` says."""
    found = await results.tag_vuln_summaries(session, repo, tags)
    out = {}
    for (name, _digest), value in found.items():
        s = value["vuln_summary"]
        out[name] = Counts(int(s["last_scan_status"]), s["critical"], s["major"], s["minor"])
    return out


def _vulnerability(finding: dict[str, Any]) -> dict[str, Any]:
    pkg = finding.get("package") or {}
    return {
        "id": str(finding.get("id", "")),
        "link": str(finding.get("link") or ""),
        "severity": str(finding.get("severity", "")),
        "cvss": finding.get("cvss"),
        "note": str(finding.get("severity_note") or ""),
        "summary": str(finding.get("summary") or ""),
        "ecosystem": str(pkg.get("ecosystem", "")),
        "package": str(pkg.get("name", "")),
        "installed": str(pkg.get("version", "")),
        "fixed": str(finding.get("fixed_version") or ""),
    }


def _sort_key(v: dict[str, Any]) -> tuple[int, float, str, str]:
    return (_SEVERITY_ORDER.get(v["severity"], 3), -(v["cvss"] or 0.0), v["package"], v["id"])


async def tag_scans(session: AsyncSession, repo: Repository, tag: str) -> list[PlatformScan]:
    """The tag's scans, one per platform (an unscanned image shows as Unscanned)."""
    rows = await results.image_scans(session, repo, tag) or []
    out = []
    for row in rows:
        vulns = sorted((_vulnerability(f) for f in row.findings or []), key=_sort_key)
        components = sorted(
            (dict(p) for p in row.components or []),
            key=lambda p: (str(p.get("ecosystem", "")), str(p.get("name", ""))),
        )
        out.append(
            PlatformScan(
                digest=row.manifest_digest,
                os=row.os,
                architecture=row.architecture,
                counts=Counts(int(row.status), row.critical, row.major, row.minor),
                components=components,
                vulnerabilities=vulns,
                error=row.error or "",
                db_version=row.db_version,
                checked_at=row.check_completed_at,
            )
        )
    return out


@dataclass(frozen=True)
class ReplicaRow:
    replica_id: str
    db_version: int | None
    db_updated_at: datetime | None
    last_seen: datetime
    live: bool


@dataclass(frozen=True)
class DatabaseState:
    db_version: int | None
    updated_at: datetime | None
    records: int
    last_update: str  # "succeeded", "failed", or "" before the first import ends
    last_error: str
    imports_pending: int
    replicas: list[ReplicaRow]


async def database_state(session: AsyncSession, now: datetime) -> DatabaseState:
    """The current vulnerability database, the last import's outcome, imports still queued,
    and every scanner replica with when it was last seen."""
    db = await current_db(session)
    last = (
        await session.execute(
            select(ScanJob.status, ScanJob.error)
            .where(ScanJob.kind == "import", ScanJob.status != "pending")
            .order_by(ScanJob.updated_at.desc())
            .limit(1)
        )
    ).first()
    pending = list(
        await session.scalars(
            select(ScanJob.id).where(ScanJob.kind == "import", ScanJob.status == "pending")
        )
    )
    replicas = [
        ReplicaRow(
            r.replica_id,
            r.db_version,
            r.db_updated_at,
            r.heartbeat_at,
            (now - r.heartbeat_at).total_seconds() <= LIVE_SECONDS,
        )
        for r in await session.scalars(
            select(ScannerReplica).order_by(ScannerReplica.heartbeat_at.desc()).limit(50)
        )
    ]
    return DatabaseState(
        db_version=db.version if db else None,
        updated_at=db.updated_at if db else None,
        records=db.records if db else 0,
        last_update=("failed" if last[0] == "failed" else "succeeded") if last else "",
        last_error=str(last[1]) if last and last[0] == "failed" else "",
        imports_pending=len(pending),
        replicas=replicas,
    )
