"""Read-only queries over repository content: tag listings, tag history, referrers, the
catalog's repository names, tag counts, and which tag keeps a manifest or blob reachable.

Reads only: no events, no writes, no HTTP. `repos.content` re-exports these names for the
registry, which reads and writes content through that one module.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from dockyard.repos.models import Manifest, ManifestReference, Repository, Tag, TagHistory


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
    return {repository_id: int(count) for repository_id, count in rows}
