"""Copy an image from one local repository to another by reference: the manifest rows (an
index's children first) and the blob links are written for the target; no byte is copied (the
store is content-addressed). The target's tag is written through the content service's put path,
so the target records MANIFEST_PUSH and TAG_PUSH as a push would. Takes a session, never commits.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.errors import DockyardError, ErrorCode
from dockyard.repos import content
from dockyard.repos.models import Manifest, ManifestReference, Repository

MAX_CHILDREN = 256


async def _record_of(session: AsyncSession, manifest: Manifest) -> content.ManifestRecord:
    refs = list(
        await session.scalars(
            select(ManifestReference).where(ManifestReference.manifest_id == manifest.id)
        )
    )
    return content.ManifestRecord(
        digest=manifest.digest,
        media_type=manifest.media_type,
        size=manifest.size,
        config_digest=manifest.config_digest,
        config_media_type=manifest.config_media_type,
        artifact_type=manifest.artifact_type,
        subject_digest=manifest.subject_digest,
        os=manifest.os,
        architecture=manifest.architecture,
        image_size=manifest.image_size,
        annotations_json=manifest.annotations_json,
        blob_refs=tuple(r.digest for r in refs if r.kind == "blob"),
        child_refs=tuple((r.digest, r.os, r.architecture) for r in refs if r.kind == "manifest"),
    )


async def _link_blobs(
    session: AsyncSession, source: Repository, target: Repository, digests: tuple[str, ...]
) -> None:
    for digest in digests:
        size = await content.blob_size(session, source.id, digest)
        if size is None:
            raise DockyardError(
                ErrorCode.BLOB_UNKNOWN,
                f"blob {digest} of the image is not in {source.namespace}/{source.name}",
            )
        await content.link_blob(session, target.id, digest, size)


async def copy_image(
    session: AsyncSession,
    host: str,
    source: Repository,
    target: Repository,
    digest: str,
    tag: str,
    author: str,
) -> Manifest:
    """Write `digest` (with an index's children) into `target` and point `tag` at it."""
    manifest = await content.get_manifest(session, source, digest)
    if manifest is None:
        raise DockyardError(ErrorCode.MANIFEST_UNKNOWN, f"manifest {digest} is not in the source")
    record = await _record_of(session, manifest)
    if len(record.child_refs) > MAX_CHILDREN:
        raise DockyardError(ErrorCode.MANIFEST_INVALID, "the index has too many children")
    for child_digest, _os, _arch in record.child_refs:
        if await content.get_manifest(session, target, child_digest) is not None:
            continue
        child = await content.get_manifest(session, source, child_digest)
        if child is None:
            raise DockyardError(
                ErrorCode.MANIFEST_UNKNOWN, f"child manifest {child_digest} is not in the source"
            )
        child_record = await _record_of(session, child)
        await _link_blobs(session, source, target, tuple(child_record.blob_refs))
        await content.put_manifest(session, host, target, child_record, None, author)
    await _link_blobs(session, source, target, tuple(record.blob_refs))
    return await content.put_manifest(session, host, target, record, tag, author)
