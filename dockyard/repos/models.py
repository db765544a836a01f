"""Tables for repositories and their content: manifests, tags and history, blob links, uploads."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
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

# SQLite only autoincrements an INTEGER PRIMARY KEY.
BigIntId = BigInteger().with_variant(Integer, "sqlite")


class Repository(Base):
    __tablename__ = "repositories"
    __table_args__ = (
        # Lists page by (namespace, name): everything (this constraint's index), the public
        # ones and one namespace's, each an index range in that order (`repos/visible.py`).
        UniqueConstraint("namespace", "name"),
        Index("ix_repositories_visibility_order", "visibility", "namespace", "name"),
        Index("ix_repositories_namespace_order", "namespace_id", "namespace", "name"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    namespace_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    # Denormalised namespace name: every /v2 request looks a repository up by "ns/name".
    namespace: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    visibility: Mapped[str] = mapped_column(String(16), default="private")
    short_description: Mapped[str] = mapped_column(String(140), default="")
    long_description: Mapped[str] = mapped_column(Text, default="")
    # MSR's default for new repositories: scan on push (and manually).
    scan_on_push: Mapped[bool] = mapped_column(Boolean, default=True)
    immutable_tags: Mapped[bool] = mapped_column(Boolean, default=False)
    enable_manifest_lists: Mapped[bool] = mapped_column(Boolean, default=True)
    tag_limit: Mapped[int] = mapped_column(Integer, default=0)
    pulls: Mapped[int] = mapped_column(BigInteger, default=0)
    pushes: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_pushed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.name}"


class Blob(Base):
    """A verified blob in storage; global, content-addressed. Linked to repositories below."""

    __tablename__ = "blobs"

    digest: Mapped[str] = mapped_column(String(200), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RepositoryBlob(Base):
    """A blob is visible in a repository only once linked (upload, mount or manifest push)."""

    __tablename__ = "repository_blobs"

    repository_id: Mapped[str] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True
    )
    digest: Mapped[str] = mapped_column(
        ForeignKey("blobs.digest", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Manifest(Base):
    __tablename__ = "manifests"
    __table_args__ = (
        UniqueConstraint("repository_id", "digest"),
        Index("ix_manifests_subject", "repository_id", "subject_digest"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    repository_id: Mapped[str] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    digest: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    config_digest: Mapped[str] = mapped_column(String(200), default="")
    config_media_type: Mapped[str] = mapped_column(String(255), default="")
    artifact_type: Mapped[str] = mapped_column(String(255), default="")
    subject_digest: Mapped[str | None] = mapped_column(String(200), nullable=True)
    os: Mapped[str] = mapped_column(String(64), default="")
    architecture: Mapped[str] = mapped_column(String(64), default="")
    # Total size of config + layers (for the UI and the API), not the manifest's own length.
    image_size: Mapped[int] = mapped_column(BigInteger, default=0)
    annotations_json: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ManifestReference(Base):
    """What a manifest points at: config and layers (blobs) or, for an index, child manifests."""

    __tablename__ = "manifest_references"

    manifest_id: Mapped[int] = mapped_column(
        ForeignKey("manifests.id", ondelete="CASCADE"), primary_key=True
    )
    digest: Mapped[str] = mapped_column(String(200), primary_key=True, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "blob" | "manifest"
    os: Mapped[str] = mapped_column(String(64), default="")
    architecture: Mapped[str] = mapped_column(String(64), default="")


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (
        UniqueConstraint("repository_id", "name"),
        # The UI's Tags tab: newest first, paged by (updated_at, id).
        Index("ix_tags_repository_updated", "repository_id", "updated_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    repository_id: Mapped[str] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(128))
    digest: Mapped[str] = mapped_column(String(200), index=True)
    author: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TagHistory(Base):
    """Every (tag -> digest) assignment, newest last; kept when a tag moves or is deleted."""

    __tablename__ = "tag_history"
    __table_args__ = (Index("ix_tag_history_repo_tag", "repository_id", "tag"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    repository_id: Mapped[str] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    tag: Mapped[str] = mapped_column(String(128))
    digest: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(16))  # "push" | "delete"
    author: Mapped[str] = mapped_column(String(255), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Upload(Base):
    """An upload session; its bytes live in storage under uploads/<id>, so it survives restarts."""

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    repository_id: Mapped[str] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RepositoryTeamAccess(Base):
    __tablename__ = "repository_team_access"

    repository_id: Mapped[str] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True
    )
    team_id: Mapped[str] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    access_level: Mapped[str] = mapped_column(String(16))


class NamespaceTeamAccess(Base):
    __tablename__ = "namespace_team_access"

    namespace_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    team_id: Mapped[str] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    access_level: Mapped[str] = mapped_column(String(16))
