"""Tables for webhook subscriptions, deliveries and delivery attempts.

A delivery is one (event, subscription) pair; its lease is a bumped `next_attempt_at` plus a
`lease_token`, so a crashed worker's claims simply become due again (at-least-once).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.clock import utcnow
from dockyard.db.base import Base, new_hex_id, new_uuid
from dockyard.db.types import UTCDateTime

BigIntId = BigInteger().with_variant(Integer, "sqlite")


class Subscription(Base):
    __tablename__ = "webhook_subscriptions"
    __table_args__ = (
        # The dispatcher's lookup: active subscriptions by (event type, key).
        Index("ix_webhook_subscriptions_match", "event_type", "key", "inactive"),
        # The lists page by (created_at, id): every subscription (an admin's), an author's,
        # and by key then creation: a repository's and a namespace's (a range of keys).
        Index("ix_webhook_subscriptions_created", "created_at", "id"),
        Index("ix_webhook_subscriptions_author_created", "author_id", "created_at", "id"),
        Index("ix_webhook_subscriptions_key_created", "key", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_hex_id)
    # The type as the client subscribed (may be a REPO_CREATED-style alias) ...
    type: Mapped[str] = mapped_column(String(64))
    # ... and the event type it matches, with the optional REPO_EVENT kind filter.
    event_type: Mapped[str] = mapped_column(String(64))
    repo_event_filter: Mapped[str | None] = mapped_column(String(32), nullable=True)
    key: Mapped[str] = mapped_column(String(512), default="")
    endpoint: Mapped[str] = mapped_column(Text)
    author_id: Mapped[str] = mapped_column(String(36), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_successful_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    inactive: Mapped[bool] = mapped_column(Boolean, default=False)
    inactive_reason: Mapped[str] = mapped_column(Text, default="")
    tls_cert: Mapped[str] = mapped_column(Text, default="")
    skip_tls_verification: Mapped[bool] = mapped_column(Boolean, default=False)
    secret: Mapped[str] = mapped_column(String(128))
    # After a rotation the old secret keeps signing alongside until this time.
    previous_secret: Mapped[str | None] = mapped_column(String(128), nullable=True)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Beyond MSR (`webhooks.filters`, `webhooks.formats`): the tag patterns as sent, joined by
    # commas ("" = every tag); the least severe finding a SCAN_COMPLETED must have (None = any
    # scan); the body's format ("msr" or "cloudevents").
    tag_filter: Mapped[str] = mapped_column(Text, default="", server_default="")
    min_severity: Mapped[str | None] = mapped_column(String(16), nullable=True)
    format: Mapped[str] = mapped_column(String(16), default="msr", server_default="msr")
    # The client certificate and key for mutual TLS, sealed together (`kit.sealing`, "" = none);
    # only the certificate's subject is ever shown.
    tls_client_sealed: Mapped[str] = mapped_column(Text, default="", server_default="")
    tls_client_subject: Mapped[str] = mapped_column(String(512), default="", server_default="")


class Delivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # The workers' claim query: due pending deliveries.
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_subscription", "subscription_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    # The outbox event: `event_seq` to load the payload, `event_id` is the public webhook-id.
    event_seq: Mapped[int] = mapped_column(BigInteger, index=True)
    event_id: Mapped[str] = mapped_column(String(36))
    event_type: Mapped[str] = mapped_column(String(64))
    event_created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|delivered|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_token: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Made by a replay (POST /api/v0/webhooks/{id}/replay), not by the event's dispatch.
    replay: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class DeliveryAttempt(Base):
    __tablename__ = "webhook_delivery_attempts"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    outcome: Mapped[str] = mapped_column(String(16))  # delivered|retry|failed|deactivated
    error: Mapped[str] = mapped_column(Text, default="")
    response_excerpt: Mapped[str] = mapped_column(Text, default="")
    # The request as sent: the headers dockyard set (no secret: a signature is a MAC) and the
    # body. None for attempts recorded before these were kept.
    request_headers: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True)
    request_body: Mapped[str | None] = mapped_column(Text, nullable=True)
