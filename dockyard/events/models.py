"""The outbox: one row per event, written in the same transaction as the change it reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.clock import utcnow
from dockyard.db.base import Base, new_uuid
from dockyard.db.types import UTCDateTime

BigIntId = BigInteger().with_variant(Integer, "sqlite")


class OutboxEvent(Base):
    __tablename__ = "outbox_events"
    __table_args__ = (
        # The dispatcher's work list: undispatched events in order.
        Index("ix_outbox_events_pending", "dispatched_at", "seq"),
        # The web UI's Activity pages: one repository's or namespace's events, newest first.
        Index("ix_outbox_events_repository", "repository_key", "seq"),
        Index("ix_outbox_events_namespace", "namespace_key", "seq"),
    )

    # Ordering; public identity is `id` (the `webhook-id` receivers de-duplicate on).
    seq: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    type: Mapped[str] = mapped_column(String(64))
    # The subscription keys this event matches: "ns/repo" for repository events, "ns" for both
    # repository and namespace events, neither for global ones.
    repository_key: Mapped[str | None] = mapped_column(String(512), nullable=True)
    namespace_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    actor: Mapped[str] = mapped_column(String(255), default="")
    # The full wire payload {type, createdAt, contents, location}.
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class OutboxCursor(Base):
    """The last outbox `seq` a consumer other than the webhook dispatcher has read (the scanner's
    scan-on-push); retention keeps every event some cursor has not passed."""

    __tablename__ = "outbox_cursors"

    consumer: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)


_OUTBOX = cast(Table, OutboxEvent.__table__)
# What a delivery is built from: the columns of an event the dispatcher and a replay read.
DELIVERY_SOURCE_COLUMNS = (
    _OUTBOX.c.seq,
    _OUTBOX.c.id,
    _OUTBOX.c.type,
    _OUTBOX.c.repository_key,
    _OUTBOX.c.namespace_key,
    _OUTBOX.c.created_at,
    _OUTBOX.c.payload,
)
