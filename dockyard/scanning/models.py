"""Tables of the scanning domain: scan jobs (durable, leased like webhook deliveries), each
image's scan result, the inventory of each layer (by digest, shared by every image that uses
it) and the scanner replicas' heartbeats. No HTTP here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.clock import utcnow
from dockyard.db.base import Base, new_uuid
from dockyard.db.types import UTCDateTime


class ScanJob(Base):
    """One image (repository + tag + platform manifest) to scan, or to check against a new
    database; `kind` "import" carries an uploaded database archive (`source`)."""

    __tablename__ = "scan_jobs"
    __table_args__ = (Index("ix_scan_jobs_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    kind: Mapped[str] = mapped_column(String(16))  # "scan" | "check" | "import"
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|done|failed
    repository_id: Mapped[str | None] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), nullable=True, index=True
    )
    tag: Mapped[str] = mapped_column(String(128), default="")
    manifest_digest: Mapped[str] = mapped_column(String(200), default="")
    os: Mapped[str] = mapped_column(String(64), default="")
    architecture: Mapped[str] = mapped_column(String(64), default="")
    source: Mapped[str] = mapped_column(Text, default="")
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_token: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # The replica holding the lease: a restarted process releases its own at once.
    claimed_by: Mapped[str] = mapped_column(String(100), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ImageScan(Base):
    """The last scan of one image: status (0-6), counts, findings and components (JSON)."""

    __tablename__ = "image_scans"
    __table_args__ = (
        UniqueConstraint("repository_id", "tag", "manifest_digest"),
        Index("ix_image_scans_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    repository_id: Mapped[str] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    namespace: Mapped[str] = mapped_column(String(255))
    repository: Mapped[str] = mapped_column(String(255))
    tag: Mapped[str] = mapped_column(String(128))
    manifest_digest: Mapped[str] = mapped_column(String(200), index=True)
    os: Mapped[str] = mapped_column(String(64), default="")
    architecture: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[int] = mapped_column(Integer, default=1)
    critical: Mapped[int] = mapped_column(Integer, default=0)
    major: Mapped[int] = mapped_column(Integer, default=0)
    minor: Mapped[int] = mapped_column(Integer, default=0)
    max_cvss: Mapped[float] = mapped_column(Float, default=0.0)
    db_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Layer digests, bottom first: a re-check merges their stored inventories again.
    layers: Mapped[list[Any]] = mapped_column(JSON, default=list)
    components: Mapped[list[Any]] = mapped_column(JSON, default=list)
    findings: Mapped[list[Any]] = mapped_column(JSON, default=list)
    distro: Mapped[str] = mapped_column(String(64), default="")
    error: Mapped[str] = mapped_column(Text, default="")
    check_completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LayerInventory(Base):
    """`LayerFindings.to_json()` of one layer digest: inventoried once, reused by every image."""

    __tablename__ = "layer_inventories"

    digest: Mapped[str] = mapped_column(String(200), primary_key=True)
    findings: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ScannerReplica(Base):
    """A running scanner process: which database version it has loaded, and its heartbeat."""

    __tablename__ = "scanner_replicas"

    replica_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    db_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    db_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
