"""Read-side shapes of tags and manifests for the repositories API: MSR's `responses.ListTag`,
`responses.Tag` and `responses.Manifest`. Reads only; no events, no HTTP here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.clock import rfc3339
from dockyard.repos.content import get_manifest
from dockyard.repos.models import Blob, Manifest, ManifestReference, Repository, Tag

_DIGEST_PREFIXES = ("sha256:", "sha384:", "sha512:")

# Fields another domain adds to tag objects (scanning's `vuln_summary`), registered by the
# assembly (app.py) so that repos imports no domain built on it: given the repository and the
# (tag, manifest digest) of each object, the extra fields of each.
TagExtras = Callable[
    [AsyncSession, Repository, Sequence[tuple[str, str]]],
    Awaitable[dict[tuple[str, str], dict[str, Any]]],
]
_TAG_EXTRAS: list[TagExtras] = []


def register_tag_extras(provider: TagExtras) -> None:
    if provider not in _TAG_EXTRAS:
        _TAG_EXTRAS.append(provider)


async def _add_extras(session: AsyncSession, repo: Repository, out: list[dict[str, Any]]) -> None:
    keys = [(o["name"], o["manifest"]["digest"]) for o in out]
    for provider in _TAG_EXTRAS:
        extras = await provider(session, repo, keys)
        for obj, key in zip(out, keys, strict=True):
            obj.update(extras.get(key, {}))


async def _manifests(
    session: AsyncSession, repo: Repository, digests: Iterable[str]
) -> dict[str, Manifest]:
    wanted = sorted(set(digests))
    if not wanted:
        return {}
    rows = await session.scalars(
        select(Manifest).where(Manifest.repository_id == repo.id, Manifest.digest.in_(wanted))
    )
    return {m.digest: m for m in rows}


async def _layers(session: AsyncSession, manifests: Iterable[Manifest]) -> dict[int, list[Any]]:
    """Each manifest's layer blobs with sizes (the config blob is not a layer)."""
    by_id = {m.id: m for m in manifests}
    if not by_id:
        return {}
    rows = await session.execute(
        select(ManifestReference.manifest_id, ManifestReference.digest, Blob.size)
        .outerjoin(Blob, Blob.digest == ManifestReference.digest)
        .where(ManifestReference.manifest_id.in_(list(by_id)), ManifestReference.kind == "blob")
    )
    layers: dict[int, list[Any]] = {mid: [] for mid in by_id}
    for manifest_id, digest, size in rows:
        if digest == by_id[manifest_id].config_digest:
            continue
        layers[manifest_id].append(
            {
                "line": "",
                "layerDigest": digest,
                "size": int(size or 0),
                "isEmpty": False,
                "mediaType": "",
                "urls": [],
            }
        )
    return layers


def manifest_wire(manifest: Manifest, layers: list[Any] | None = None) -> dict[str, Any]:
    return {
        "digest": manifest.digest,
        "mediaType": manifest.media_type,
        "configMediaType": manifest.config_media_type,
        "configDigest": manifest.config_digest,
        "size": manifest.image_size or manifest.size,
        "createdAt": rfc3339(manifest.created_at),
        "author": manifest.author,
        "os": manifest.os,
        "osVersion": "",
        "architecture": manifest.architecture,
        "dockerfile": layers or [],
    }


def _tag_wire(tag: Tag, manifest: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "name": tag.name,
        "digest": tag.digest,
        "author": tag.author,
        "createdAt": rfc3339(tag.created_at),
        "updatedAt": rfc3339(tag.updated_at),
        "hashMismatch": False,
        "inNotary": False,
        "manifest": manifest if manifest is not None else {"digest": tag.digest},
    }


def repository_tags(repo: Repository) -> Select[Tag]:
    """The tags of a repository, unordered: the caller pages them by name (keyset)."""
    return select(Tag).where(Tag.repository_id == repo.id)


async def list_tag_objects(
    session: AsyncSession, repo: Repository, tags: Sequence[Tag]
) -> list[dict[str, Any]]:
    """These tags (one page, in order) as ListTags, with their manifests in two queries."""
    manifests = await _manifests(session, repo, (t.digest for t in tags))
    layers = await _layers(session, manifests.values())
    out = []
    for tag in tags:
        manifest = manifests.get(tag.digest)
        wire = manifest_wire(manifest, layers.get(manifest.id)) if manifest else None
        out.append(_tag_wire(tag, wire))
    await _add_extras(session, repo, out)
    return out


async def tag_objects(
    session: AsyncSession, repo: Repository, reference: str
) -> list[dict[str, Any]] | None:
    """GET .../tags/{reference}: a tag (one object per platform of an index) or a digest (every
    tag pointing at it). None when the reference matches nothing."""
    if reference.startswith(_DIGEST_PREFIXES):
        tags = list(
            await session.scalars(
                select(Tag)
                .where(Tag.repository_id == repo.id, Tag.digest == reference)
                .order_by(Tag.name)
            )
        )
        if not tags:
            return None
    else:
        tag = await session.scalar(
            select(Tag).where(Tag.repository_id == repo.id, Tag.name == reference)
        )
        if tag is None:
            return None
        tags = [tag]
    out: list[dict[str, Any]] = []
    for tag in tags:
        manifest = await get_manifest(session, repo, tag.digest)
        if manifest is None:
            out.append(_tag_wire(tag, None))
            continue
        children = list(
            await session.scalars(
                select(ManifestReference.digest).where(
                    ManifestReference.manifest_id == manifest.id,
                    ManifestReference.kind == "manifest",
                )
            )
        )
        platform_manifests = list((await _manifests(session, repo, children)).values())
        if not platform_manifests:
            platform_manifests = [manifest]
        platform_manifests.sort(key=lambda m: (m.os, m.architecture, m.digest))
        layers = await _layers(session, platform_manifests)
        for child in platform_manifests:
            out.append(_tag_wire(tag, manifest_wire(child, layers.get(child.id))))
    await _add_extras(session, repo, out)
    return out
