"""Repository content: blob links, manifests, tags and their history, pull/push counters, and
the TAG_*/MANIFEST_* events that report each change (recorded in the caller's transaction).

Takes a session; the caller commits (then calls `events.bus.notify_committed()`). No HTTP here,
and no storage I/O: the registry adapter moves bytes, this module keeps the records.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased

from dockyard.clock import utcnow
from dockyard.errors import DockyardError, ErrorCode
from dockyard.events.bus import record
from dockyard.events.types import Event, EventType, ImageRef, manifest_event, tag_event
from dockyard.repos.models import (
    Blob,
    Manifest,
    ManifestReference,
    Repository,
    RepositoryBlob,
    Tag,
    TagHistory,
    Upload,
)

# -- helpers ------------------------------------------------------------------------------------


async def _insert_ignore(
    session: AsyncSession, model: type[Any], values: dict[str, Any], keys: list[str]
) -> None:
    """INSERT … ON CONFLICT DO NOTHING: concurrent uploads of one blob must not collide."""
    dialect = session.get_bind().dialect.name
    insert_fn: Any = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert_fn(model).values(**values).on_conflict_do_nothing(index_elements=keys)
    await session.execute(stmt)


def _image(repo: Repository, manifest: Manifest, tag: str = "") -> ImageRef:
    return ImageRef(
        repo.namespace, repo.name, manifest.digest, manifest.os, manifest.architecture, tag
    )


# -- blobs --------------------------------------------------------------------------------------


async def blob_size(session: AsyncSession, repository_id: str, digest: str) -> int | None:
    """The size of a blob linked to this repository, or None when it is not visible here."""
    stmt = (
        select(Blob.size)
        .join(RepositoryBlob, RepositoryBlob.digest == Blob.digest)
        .where(RepositoryBlob.repository_id == repository_id, Blob.digest == digest)
    )
    size: int | None = await session.scalar(stmt)
    return size


async def link_blob(session: AsyncSession, repository_id: str, digest: str, size: int) -> None:
    """Record a verified blob (if new) and make it visible in the repository."""
    now = utcnow()
    await _insert_ignore(
        session, Blob, {"digest": digest, "size": size, "created_at": now}, ["digest"]
    )
    await _insert_ignore(
        session,
        RepositoryBlob,
        {"repository_id": repository_id, "digest": digest, "created_at": now},
        ["repository_id", "digest"],
    )


async def unlink_blob(session: AsyncSession, repository_id: str, digest: str) -> bool:
    result: Any = await session.execute(
        delete(RepositoryBlob).where(
            RepositoryBlob.repository_id == repository_id, RepositoryBlob.digest == digest
        )
    )
    return bool(result.rowcount)


async def _missing(
    session: AsyncSession,
    column: InstrumentedAttribute[str],
    repository_column: InstrumentedAttribute[str],
    repository_id: str,
    digests: Iterable[str],
) -> list[str]:
    wanted = sorted(set(digests))
    if not wanted:
        return []
    found = set(
        await session.scalars(
            select(column).where(repository_column == repository_id, column.in_(wanted))
        )
    )
    return [d for d in wanted if d not in found]


async def missing_blobs(
    session: AsyncSession, repository_id: str, digests: Iterable[str]
) -> list[str]:
    """The digests not linked as blobs in the repository (sorted)."""
    return await _missing(
        session, RepositoryBlob.digest, RepositoryBlob.repository_id, repository_id, digests
    )


async def missing_manifests(
    session: AsyncSession, repository_id: str, digests: Iterable[str]
) -> list[str]:
    """The digests that are not manifests of the repository (sorted)."""
    return await _missing(session, Manifest.digest, Manifest.repository_id, repository_id, digests)


async def create_upload(session: AsyncSession, repository_id: str) -> Upload:
    now = utcnow()
    upload = Upload(repository_id=repository_id, size=0, created_at=now, updated_at=now)
    session.add(upload)
    await session.flush()
    return upload


async def get_upload(session: AsyncSession, repository_id: str, upload_id: str) -> Upload | None:
    upload = await session.get(Upload, upload_id)
    if upload is None or upload.repository_id != repository_id:
        return None
    return upload


async def delete_upload(session: AsyncSession, upload_id: str) -> None:
    await session.execute(delete(Upload).where(Upload.id == upload_id))


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
    record(
        session,
        manifest_event(EventType.MANIFEST_PUSH, host, _image(repository, manifest), author, now),
    )
    if tag:
        if existing_tag is None:
            session.add(
                Tag(
                    repository_id=repository.id,
                    name=tag,
                    digest=data.digest,
                    author=author,
                    created_at=now,
                    updated_at=now,
                )
            )
        else:
            existing_tag.digest = data.digest
            existing_tag.author = author
            existing_tag.updated_at = now
        session.add(
            TagHistory(
                repository_id=repository.id,
                tag=tag,
                digest=data.digest,
                action="push",
                author=author,
                at=now,
            )
        )
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


@dataclass(frozen=True)
class TagUse:
    """A tag that keeps some content reachable: it points at `manifest`, which is the content's
    user or an index above it."""

    tag: str
    manifest: str


async def _tag_reaching(
    session: AsyncSession, repository_id: str, digest: str, kind: str
) -> TagUse | None:
    """A tag of the repository (the first by name) from which `digest` is reachable through
    manifests that reference it as `kind` ("blob" or "manifest") and indexes above those."""
    seed = (
        select(Manifest.digest.label("digest"))
        .join(ManifestReference, ManifestReference.manifest_id == Manifest.id)
        .where(
            Manifest.repository_id == repository_id,
            ManifestReference.digest == digest,
            ManifestReference.kind == kind,
        )
        .cte("reach", recursive=True)
    )
    parent = aliased(Manifest)
    child_ref = aliased(ManifestReference)
    # UNION (not UNION ALL) drops digests already reached, so a cycle of indexes ends.
    reach = seed.union(
        select(parent.digest)
        .join(child_ref, child_ref.manifest_id == parent.id)
        .join(seed, child_ref.digest == seed.c.digest)
        .where(parent.repository_id == repository_id, child_ref.kind == "manifest")
    )
    row = (
        await session.execute(
            select(Tag.name, Tag.digest)
            .join(reach, Tag.digest == reach.c.digest)
            .where(Tag.repository_id == repository_id)
            .order_by(Tag.name)
            .limit(1)
        )
    ).first()
    return TagUse(row[0], row[1]) if row is not None else None


async def tag_keeping_manifest(
    session: AsyncSession, repository_id: str, digest: str
) -> TagUse | None:
    """A tag whose index (directly or through nested indexes) lists manifest `digest` as a
    child; deleting the child would leave that tag pointing at an index that cannot be pulled.
    A tag on the manifest itself does not count: deleting a manifest deletes its tags."""
    return await _tag_reaching(session, repository_id, digest, "manifest")


async def tag_keeping_blob(session: AsyncSession, repository_id: str, digest: str) -> TagUse | None:
    """A tag whose manifest (or a manifest under its index) references blob `digest`."""
    return await _tag_reaching(session, repository_id, digest, "blob")


def pull_events(
    host: str, repository: Repository, manifest: Manifest, tag: str | None, author: str
) -> list[Event]:
    """MANIFEST_PULL (+ TAG_PULL when fetched by tag). The registry writes them, with the pull
    counter, through its group commit (registry.pulls), not in a transaction of its own."""
    now = utcnow()
    events = [
        manifest_event(EventType.MANIFEST_PULL, host, _image(repository, manifest), author, now)
    ]
    if tag:
        events.append(
            tag_event(EventType.TAG_PULL, host, _image(repository, manifest, tag), author, now)
        )
    return events


# -- listings -----------------------------------------------------------------------------------


async def list_tags(session: AsyncSession, repository: Repository) -> list[Tag]:
    return list(
        await session.scalars(
            select(Tag).where(Tag.repository_id == repository.id).order_by(Tag.name)
        )
    )


async def tag_names(
    session: AsyncSession, repository_id: str, limit: int | None, last: str | None
) -> list[str]:
    stmt = select(Tag.name).where(Tag.repository_id == repository_id).order_by(Tag.name)
    if last:
        stmt = stmt.where(Tag.name > last)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(await session.scalars(stmt))


async def tag_history(session: AsyncSession, repository_id: str, tag: str) -> list[TagHistory]:
    return list(
        await session.scalars(
            select(TagHistory)
            .where(TagHistory.repository_id == repository_id, TagHistory.tag == tag)
            .order_by(TagHistory.id)
        )
    )


async def referrers(
    session: AsyncSession, repository_id: str, subject: str, artifact_type: str | None
) -> list[Manifest]:
    stmt = (
        select(Manifest)
        .where(Manifest.repository_id == repository_id, Manifest.subject_digest == subject)
        .order_by(Manifest.id)
    )
    if artifact_type:
        stmt = stmt.where(Manifest.artifact_type == artifact_type)
    return list(await session.scalars(stmt))


async def repository_names(
    session: AsyncSession, limit: int | None, last: str | None
) -> list[Repository]:
    """Repositories ordered by "namespace/name", after `last` (catalog pagination)."""
    full = Repository.namespace + "/" + Repository.name
    stmt = select(Repository).order_by(full)
    if last:
        stmt = stmt.where(full > last)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(await session.scalars(stmt))


async def tag_counts(session: AsyncSession, repository_ids: list[str]) -> dict[str, int]:
    """Tags per repository for many repositories in one query (absent: none)."""
    if not repository_ids:
        return {}
    rows = await session.execute(
        select(Tag.repository_id, func.count())
        .where(Tag.repository_id.in_(repository_ids))
        .group_by(Tag.repository_id)
    )
    return {repository_id: int(count) for repository_id, count in rows.tuples()}


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
