"""Tables of the vulnerability database: its versions and one row per affected package.

Every import is one `VulnDbVersion` (1, 2, ...; a number is never reused: version rows stay).
Its rows are written while it is `importing`; one short transaction then makes it `current` and
the previous current one `deleting`; the rows of `deleting` versions (replaced, failed or
abandoned imports) are then removed in batches and the version becomes `gone`. Since a version
is marked `deleting` before any of its rows goes, a reader that still sees its version `current`
after reading the rows knows it read all of them (`matching.match` checks exactly that).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.db.base import Base
from dockyard.db.types import UTCDateTime

IMPORTING = "importing"
CURRENT = "current"
DELETING = "deleting"
GONE = "gone"


class VulnDbVersion(Base):
    __tablename__ = "vuln_db_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(16), index=True)
    # Where the import runs ("host:pid") and its last sign of life, to tell a dead import.
    owner: Mapped[str] = mapped_column(String(255))
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # When it became current (the database's `db_updated_at`).
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    source: Mapped[str] = mapped_column(String(255), default="")
    records: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    # Why an import did not become current (a broken archive, an abandoned import).
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class VulnAffected(Base):
    """One affected package of one OSV record under one database version."""

    __tablename__ = "vuln_affected"
    __table_args__ = (Index("ix_vuln_affected_lookup", "db_version", "ecosystem", "name"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    db_version: Mapped[int] = mapped_column(Integer)
    ecosystem: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    vuln_id: Mapped[str] = mapped_column(String(128))
    aliases: Mapped[list[str]] = mapped_column(JSON)
    summary: Mapped[str] = mapped_column(Text)
    ranges: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    versions: Mapped[list[str]] = mapped_column(JSON)
    severity: Mapped[str] = mapped_column(String(8))
    cvss: Mapped[float | None] = mapped_column(Float, nullable=True)
    severity_note: Mapped[str] = mapped_column(String(255))
