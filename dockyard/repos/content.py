"""Repository content: blob links, manifests, tags and their history, pull/push counters, and
the TAG_*/MANIFEST_* events that report each change (recorded in the caller's transaction).

Takes a session; the caller's unit of work commits (recording an event wakes the consumers after
the commit). No HTTP here, and no storage I/O: the registry adapter moves bytes, this module
keeps the records. Blob links (`blob_links`) and read-only queries (`reads`) live beside it and
are re-exported here, so the registry needs this one module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.clock import utcnow
from dockyard.errors import DockyardError, ErrorCode
from dockyard.events.bus import record
from dockyard.events.types import Event, EventType, ImageRef, manifest_event, tag_event

# The registry reads and writes content through this one module: it re-exports the blob links
# and the read-only queries, which live in modules of their own.
from dockyard.repos.blob_links import (
    blob_size,
    create_upload,
    delete_upload,
    get_upload,
    link_blob,
    missing_blobs,
    missing_manifests,
    publish_upload,
    unlink_blob,
)
from dockyard.repos.models import (
    Manifest,
    ManifestReference,
    Repository,
    RepositoryBlob,
    Tag,
    TagHistory,
    Upload,
)
from dockyard.repos.reads import (
    TagUse,
    list_tags,
    referrers,
    repository_names,
    tag_counts,
    tag_history,
    tag_keeping_blob,
    tag_keeping_manifest,
    tag_names,
)

__all__ = [
    "ManifestRecord",
    "TagUse",
    "blob_size",
    "create_upload",
    "delete_manifest",
    "delete_repository_content",
    "delete_tag",
    "delete_upload",
    "get_manifest",
    "get_upload",
    "link_blob",
    "list_tags",
    "missing_blobs",
    "missing_manifests",
    "publish_upload",
    "pull_events",
    "put_manifest",
    "referrers",
    "repository_names",
    "tag_counts",
    "tag_history",
    "tag_keeping_blob",
    "tag_keeping_manifest",
    "tag_names",
    "unlink_blob",
]

# -- helpers ------------------------------------------------------------------------------------


def _image(repo: Repository, manifest: Manifest, tag: str = "") -> ImageRef:
    return ImageRef(
        repo.namespace, repo.name, manifest.digest, manifest.os, manifest.architecture, tag
    )


# -- manifests ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ManifestRecord:
    """What the registry learned about a pushed manifest (validated, bytes already stored)."""

    digest: str
    media_type: str
    size: int
    config_digest: str = ""
    config_media_type: str = ""
    artifact_type: str = ""
    subject_digest: str | None = None
    os: str = ""
    architecture: str = ""
    image_size: int = 0
    annotations_json: str = ""
    blob_refs: Sequence[str] = ()
    # (digest, os, architecture) of each child of an index
    child_refs: Sequence[tuple[str, str, str]] = field(default_factory=tuple)


async def get_manifest(
    session: AsyncSession, repository: Repository, digest: str
) -> Manifest | None:
    manifest: Manifest | None = await session.scalar(
        select(Manifest).where(Manifest.repository_id == repository.id, Manifest.digest == digest)
    )
    return manifest


async def _get_tag(session: AsyncSession, repository_id: str, tag: str) -> Tag | None:
    row: Tag | None = await session.scalar(
        select(Tag).where(Tag.repository_id == repository_id, Tag.name == tag)
    )
    return row


async def put_manifest(
    session: AsyncSession,
    host: str,
    repository: Repository,
    data: ManifestRecord,
    tag: str | None,
    author: str,
) -> Manifest:
    """Upsert the manifest (and the tag), count the push, record MANIFEST_PUSH (+ TAG_PUSH),
    apply immutableTags and tagLimit."""
    now = utcnow()
    existing_tag = await _get_tag(session, repository.id, tag) if tag else None
    if (
        existing_tag is not None
        and repository.immutable_tags
        and existing_tag.digest != data.digest
    ):
        raise DockyardError(
            ErrorCode.TAG_IMMUTABLE,
            f"tag {tag!r} exists and the repository's tags are immutable",
            detail={"tag": tag},
        )
    manifest = await get_manifest(session, repository, data.digest)
    if manifest is None:
        manifest = await _add_manifest(session, repository, data, author, now)
    record(
        session,
        manifest_event(EventType.MANIFEST_PUSH, host, _image(repository, manifest), author, now),
    )
    if tag:
        _point_tag(session, repository, existing_tag, tag, data.digest, author, now)
        record(
            session,
            tag_event(EventType.TAG_PUSH, host, _image(repository, manifest, tag), author, now),
        )
    await session.execute(
        update(Repository)
        .where(Repository.id == repository.id)
        .values(pushes=Repository.pushes + 1, last_pushed_at=now)
    )
    if tag and repository.tag_limit > 0:
        await session.flush()
        await _enforce_tag_limit(session, host, repository, tag, author)
    return manifest


async def _add_manifest(
    session: AsyncSession, repository: Repository, data: ManifestRecord, author: str, now: datetime
) -> Manifest:
    """A new manifest row with its references (blobs, and the children of an index)."""
    manifest = Manifest(
        repository_id=repository.id,
        digest=data.digest,
        media_type=data.media_type,
        size=data.size,
        config_digest=data.config_digest,
        config_media_type=data.config_media_type,
        artifact_type=data.artifact_type,
        subject_digest=data.subject_digest,
        os=data.os,
        architecture=data.architecture,
        image_size=data.image_size,
        annotations_json=data.annotations_json,
        author=author,
        created_at=now,
    )
    session.add(manifest)
    await session.flush()
    refs: dict[str, ManifestReference] = {}
    for digest in data.blob_refs:
        refs.setdefault(
            digest, ManifestReference(manifest_id=manifest.id, digest=digest, kind="blob")
        )
    for digest, os_name, arch in data.child_refs:
        refs.setdefault(
            digest,
            ManifestReference(
                manifest_id=manifest.id,
                digest=digest,
                kind="manifest",
                os=os_name,
                architecture=arch,
            ),
        )
    session.add_all(refs.values())
    return manifest


def _point_tag(
    session: AsyncSession,
    repository: Repository,
    existing: Tag | None,
    tag: str,
    digest: str,
    author: str,
    now: datetime,
) -> None:
    """Create or move the tag, and write the push into its history."""
    if existing is None:
        session.add(
            Tag(
                repository_id=repository.id,
                name=tag,
                digest=digest,
                author=author,
                created_at=now,
                updated_at=now,
            )
        )
    else:
        existing.digest = digest
        existing.author = author
        existing.updated_at = now
    session.add(
        TagHistory(
            repository_id=repository.id,
            tag=tag,
            digest=digest,
            action="push",
            author=author,
            at=now,
        )
    )


async def _enforce_tag_limit(
    session: AsyncSession, host: str, repository: Repository, keep: str, author: str
) -> None:
    tags = list(
        await session.scalars(
            select(Tag)
            .where(Tag.repository_id == repository.id)
            .order_by(Tag.updated_at.desc(), Tag.id.desc())
        )
    )
    excess = len(tags) - repository.tag_limit
    if excess <= 0:
        return
    victims = [t for t in reversed(tags) if t.name != keep][:excess]
    for victim in victims:
        await _delete_tag_row(session, host, repository, victim, author)


async def _delete_tag_row(
    session: AsyncSession, host: str, repository: Repository, tag: Tag, author: str
) -> None:
    now = utcnow()
    manifest = await get_manifest(session, repository, tag.digest)
    image = ImageRef(
        repository.namespace,
        repository.name,
        tag.digest,
        manifest.os if manifest else "",
        manifest.architecture if manifest else "",
        tag.name,
    )
    session.add(
        TagHistory(
            repository_id=repository.id,
            tag=tag.name,
            digest=tag.digest,
            action="delete",
            author=author,
            at=now,
        )
    )
    await session.delete(tag)
    record(session, tag_event(EventType.TAG_DELETE, host, image, author, now))


async def delete_tag(
    session: AsyncSession, host: str, repository: Repository, tag: str, author: str
) -> None:
    """Remove a tag (its manifest stays, untagged, for gc); records TAG_DELETE."""
    row = await _get_tag(session, repository.id, tag)
    if row is None:
        raise DockyardError(ErrorCode.NO_SUCH_TAG, detail={"tag": tag})
    await _delete_tag_row(session, host, repository, row, author)


async def delete_manifest(
    session: AsyncSession, host: str, repository: Repository, digest: str, author: str
) -> bool:
    """Remove a manifest and every tag pointing at it: TAG_DELETE each, then MANIFEST_DELETE."""
    manifest = await get_manifest(session, repository, digest)
    if manifest is None:
        return False
    tags = await session.scalars(
        select(Tag).where(Tag.repository_id == repository.id, Tag.digest == digest)
    )
    for tag in list(tags):
        await _delete_tag_row(session, host, repository, tag, author)
    now = utcnow()
    record(
        session,
        manifest_event(EventType.MANIFEST_DELETE, host, _image(repository, manifest), author, now),
    )
    await session.delete(manifest)
    return True


def pull_events(host: str, image: ImageRef, author: str) -> list[Event]:
    """MANIFEST_PULL (+ TAG_PULL when fetched by tag: `image.tag` set). The registry writes
    them, with the pull counter, through its group commit (registry.pulls), not in a
    transaction of its own, and only when something may consume them (its setting
    DOCKYARD_PULL_EVENTS)."""
    now = utcnow()
    events = [manifest_event(EventType.MANIFEST_PULL, host, image, author, now)]
    if image.tag:
        events.append(tag_event(EventType.TAG_PULL, host, image, author, now))
    return events


async def delete_repository_content(session: AsyncSession, repository: Repository) -> None:
    """Remove tags, manifests, blob links and uploads of a repository (blobs go via gc).

    Records no events: deleting the repository is reported as REPO_DELETED by the caller."""
    await session.execute(delete(Tag).where(Tag.repository_id == repository.id))
    manifest_ids = select(Manifest.id).where(Manifest.repository_id == repository.id)
    await session.execute(
        delete(ManifestReference).where(ManifestReference.manifest_id.in_(manifest_ids))
    )
    await session.execute(delete(Manifest).where(Manifest.repository_id == repository.id))
    await session.execute(
        delete(RepositoryBlob).where(RepositoryBlob.repository_id == repository.id)
    )
    await session.execute(delete(Upload).where(Upload.repository_id == repository.id))
