"""The `replicas` table: one row per running dockyard process, refreshed by its heartbeat.

A row whose `last_seen_at` is old belongs to a stopped or killed process; it is listed as
down for a while, then deleted. The scanner's own records (`scanner_replicas`) stay: a worker
process copies the database version its scanner loaded into its row here. No HTTP here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.clock import utcnow
from dockyard.db.base import Base
from dockyard.db.types import UTCDateTime


class Replica(Base):
    __tablename__ = "replicas"

    # `<node id>-worker` for a worker process (the scanner replica's id), `<node id>-api-<pid>`
    # for an HTTP worker process.
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String(64))
    # "api" (serves HTTP), "worker" (delivery, scanning, policies) or "all" (both, one process).
    role: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # The vulnerability database version this process's scanner has loaded (workers only).
    db_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
