"""Tables of promotion: the policies, and the record of each promoted tag (its promotion chain,
so that a promotion never loops: A promotes to B which promotes back to A). No HTTP here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.clock import utcnow
from dockyard.db.base import Base, new_uuid
from dockyard.db.types import UTCDateTime


class PromotionPolicy(Base):
    """Promote a source repository's tags that match `rules` to `target` under `tag_template`."""

    __tablename__ = "promotion_policies"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    source_repository_id: Mapped[str] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    target_repository_id: Mapped[str] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    rules: Mapped[list[Any]] = mapped_column(JSON, default=list)
    tag_template: Mapped[str] = mapped_column(String(255), default="%n")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_promoted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PromotedTag(Base):
    """A tag written by a promotion, with the repositories its image already passed through."""

    __tablename__ = "promoted_tags"
    __table_args__ = (UniqueConstraint("repository_id", "tag"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    repository_id: Mapped[str] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    tag: Mapped[str] = mapped_column(String(128))
    manifest_digest: Mapped[str] = mapped_column(String(200))
    # Repository ids, oldest first, ending with the source of the promotion that wrote this tag.
    chain: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
