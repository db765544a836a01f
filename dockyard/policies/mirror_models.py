"""Tables of mirroring: push and poll mirroring policies (one table, `mirroring_type` tells them
apart, as MSR's generic `mirroringPolicies` list does) and mirror jobs (durable, leased like scan
jobs). Credentials are stored encrypted (`policies.credentials`) and never leave the service.
No HTTP here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.clock import utcnow
from dockyard.db.base import Base, new_uuid
from dockyard.db.types import UTCDateTime


class MirroringPolicy(Base):
    """One push (`push`) or poll (`poll`) mirroring policy of a local repository."""

    __tablename__ = "mirroring_policies"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    mirroring_type: Mapped[str] = mapped_column(String(8), index=True)  # "push" | "poll"
    repository_id: Mapped[str] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    rules: Mapped[list[Any]] = mapped_column(JSON, default=list)
    remote_host: Mapped[str] = mapped_column(String(512))
    remote_repository: Mapped[str] = mapped_column(String(512))
    remote_ca: Mapped[str] = mapped_column(Text, default="")
    skip_tls_verification: Mapped[bool] = mapped_column(Boolean, default=False)
    tag_template: Mapped[str] = mapped_column(String(255), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    username: Mapped[str] = mapped_column(String(255), default="")
    # The credentials (username, password, auth token), a Fernet token (`policies.credentials`).
    secret_enc: Mapped[str] = mapped_column(Text, default="")
    last_mirrored_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # {"code": int, "detail": str, "timestamp": iso} of the last run, {} before the first.
    last_status: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Poll mirroring: tag -> remote digest last mirrored, so a moved tag is seen.
    remote_digests: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MirrorJob(Base):
    """One mirroring run: push one tag (`push`) or poll one policy's remote (`poll`)."""

    __tablename__ = "mirror_jobs"
    __table_args__ = (Index("ix_mirror_jobs_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    kind: Mapped[str] = mapped_column(String(8))  # "push" | "poll"
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|done|failed
    policy_id: Mapped[str | None] = mapped_column(
        ForeignKey("mirroring_policies.id", ondelete="CASCADE"), nullable=True, index=True
    )
    repository_id: Mapped[str] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    tag: Mapped[str] = mapped_column(String(128), default="")
    manifest_digest: Mapped[str] = mapped_column(String(200), default="")
    # A manual push's remote (the request's fields, credentials encrypted); {} for a policy's.
    target: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    remote_tag: Mapped[str] = mapped_column(String(128), default="")
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_token: Mapped[str | None] = mapped_column(String(36), nullable=True)
    claimed_by: Mapped[str] = mapped_column(String(100), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
