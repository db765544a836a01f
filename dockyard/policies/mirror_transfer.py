"""Moving one image between local storage and a remote registry (`policies.ociclient`).

Push: each child of an index first, then for each manifest the blobs the remote lacks (HEAD
first; mounted from another repository of the same remote when this worker has seen the blob
there, else streamed from local storage in chunks), then the manifest itself. Pull: the remote's
manifest (children first), each blob the local repository lacks streamed into local storage
through the driver's upload API (the digest verified on commit), the manifest stored and its
rows written by the content service (which records TAG_PUSH as a push would). No HTTP routes.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dockyard.policies.ociclient import RemoteError, RemoteRegistry
from dockyard.registry.mediatypes import (
    IMAGE_CONFIG_TYPES,
    ManifestError,
    ParsedManifest,
    parse_manifest,
    platform_of_config,
)
from dockyard.repos import content
from dockyard.repos.models import Manifest, ManifestReference, Repository
from dockyard.storage.base import BlobStore, DigestMismatch
from dockyard.storage.digest import is_valid_digest

MAX_DEPTH = 2  # an index of manifests; deeper nesting is refused
MAX_CONFIG_BYTES = 1024 * 1024
MAX_CHILDREN = 64


class BlobHomes:
    """Which repository of a remote host each blob was last seen in (pushed, mounted, or found
    by HEAD), so a blob one repository lacks can be mounted from another instead of uploaded.
    In memory, per worker process, the oldest forgotten past `limit`: a worker that restarts
    just uploads again (a durable table would be the next step)."""

    def __init__(self, limit: int = 50_000) -> None:
        self._limit = limit
        self._homes: OrderedDict[tuple[str, str], str] = OrderedDict()

    def where(self, host: str, digest: str) -> str | None:
        return self._homes.get((host, digest))

    def saw(self, host: str, digest: str, repository: str) -> None:
        self._homes[(host, digest)] = repository
        self._homes.move_to_end((host, digest))
        while len(self._homes) > self._limit:
            self._homes.popitem(last=False)


@dataclass
class Local:
    sessionmaker: async_sessionmaker[AsyncSession]
    storage: BlobStore
    host: str
    homes: BlobHomes = field(default_factory=BlobHomes)


async def _read_all(storage: BlobStore, digest: str, limit: int) -> bytes:
    size = await storage.stat(digest)
    if size is None or size > limit:
        raise RemoteError(f"the local content {digest} is missing or too large")
    return b"".join([chunk async for chunk in storage.read(digest)])


async def _local_manifest(
    local: Local, repo: Repository, digest: str
) -> tuple[Manifest, list[tuple[str, str]]]:
    async with local.sessionmaker() as session:
        manifest = await content.get_manifest(session, repo, digest)
        if manifest is None:
            raise RemoteError(f"the manifest {digest} is no longer in {repo.full_name}")
        refs = (
            await session.execute(
                select(ManifestReference.digest, ManifestReference.kind).where(
                    ManifestReference.manifest_id == manifest.id
                )
            )
        ).all()
    return manifest, [(str(d), str(k)) for d, k in refs]


async def push_image(
    local: Local,
    repo: Repository,
    digest: str,
    remote: RemoteRegistry,
    remote_repo: str,
    reference: str,
    depth: int = 0,
) -> None:
    """Push the local manifest `digest` (and all it references) as `remote_repo:reference`."""
    if depth > MAX_DEPTH:
        raise RemoteError(f"the manifest {digest} nests indexes too deeply")
    manifest, refs = await _local_manifest(local, repo, digest)
    for child, kind in refs:
        if kind == "manifest":
            await push_image(local, repo, child, remote, remote_repo, child, depth + 1)
    for blob, kind in refs:
        if kind == "blob":
            await _push_blob(local, remote, remote_repo, blob)
    body = await _read_all(local.storage, manifest.digest, 4 * 1024 * 1024)
    await remote.put_manifest(remote_repo, reference, body, manifest.media_type)


async def _push_blob(local: Local, remote: RemoteRegistry, remote_repo: str, blob: str) -> None:
    """One blob onto the remote unless it is there: a mount when it was seen in another
    repository of the same host, else a streamed upload."""
    host = remote.hostport
    if await remote.blob_exists(remote_repo, blob):
        local.homes.saw(host, blob, remote_repo)
        return
    home = local.homes.where(host, blob)
    if home is not None and home != remote_repo:
        try:
            mounted = await remote.mount(remote_repo, blob, home)
        except RemoteError:
            # e.g. the credentials cannot read `home` (any more): uploading still works.
            mounted = False
        if mounted:
            local.homes.saw(host, blob, remote_repo)
            return
    size = await local.storage.stat(blob)
    if size is None:
        raise RemoteError(f"the blob {blob} is missing from local storage")
    await remote.push_blob(remote_repo, blob, size, local.storage.read(blob))
    local.homes.saw(host, blob, remote_repo)


async def _pull_blob(local: Local, remote: RemoteRegistry, remote_repo: str, digest: str) -> int:
    """The blob into local storage (streamed, verified); returns its size."""
    if not is_valid_digest(digest):
        raise RemoteError(f"the remote names an invalid digest {digest[:80]!r}")
    size = await local.storage.stat(digest)
    if size is not None:
        return size
    upload_id = str(uuid.uuid4())
    await local.storage.upload_start(upload_id)
    try:
        await local.storage.upload_append(upload_id, remote.open_blob(remote_repo, digest))
        return await local.storage.upload_commit(upload_id, digest)
    except DigestMismatch as exc:
        raise RemoteError(f"the remote's blob {digest} does not match its digest") from exc
    finally:
        await local.storage.upload_cancel(upload_id)


def _parse(body: bytes, media_type: str) -> ParsedManifest:
    try:
        return parse_manifest(body, media_type)
    except ManifestError as exc:
        raise RemoteError(f"the remote's manifest is invalid: {exc.message}") from exc


async def _record(
    local: Local, parsed: ParsedManifest, digest: str, body: bytes
) -> content.ManifestRecord:
    os_name = arch = ""
    config = parsed.config
    if config is not None and config.media_type in IMAGE_CONFIG_TYPES:
        with contextlib.suppress(RemoteError):
            os_name, arch = platform_of_config(
                await _read_all(local.storage, config.digest, MAX_CONFIG_BYTES)
            )
    image_size = (config.size if config else 0) + sum(d.size for d in parsed.layers)
    if parsed.is_index:
        image_size = sum(c.size for c in parsed.children)
    return content.ManifestRecord(
        digest=digest,
        media_type=parsed.media_type,
        size=len(body),
        config_digest=config.digest if config else "",
        config_media_type=config.media_type if config else "",
        artifact_type=parsed.effective_artifact_type,
        subject_digest=parsed.subject.digest if parsed.subject else None,
        os=os_name,
        architecture=arch,
        image_size=min(image_size, 2**62),
        annotations_json=json.dumps(parsed.annotations) if parsed.annotations else "",
        blob_refs=[d.digest for d in parsed.layers] + ([config.digest] if config else []),
        child_refs=[(c.digest, c.os, c.architecture) for c in parsed.children],
    )


Write = Callable[[AsyncSession, content.ManifestRecord], Awaitable[Any]]


async def pull_image(
    local: Local,
    repo: Repository,
    remote: RemoteRegistry,
    remote_repo: str,
    reference: str,
    write: Write,
    depth: int = 0,
) -> content.ManifestRecord:
    """Pull `remote_repo:reference` in; `write(session, record)` writes the manifest's rows
    (the caller tags it and records its events). Returns the manifest's record."""
    if depth > MAX_DEPTH:
        raise RemoteError(f"the remote's manifest {reference} nests indexes too deeply")
    body, media_type, digest = await remote.get_manifest(remote_repo, reference)
    parsed = _parse(body, media_type)
    if len(parsed.children) > MAX_CHILDREN:
        raise RemoteError(f"the remote's index {digest} has too many children")
    for child in parsed.children:
        await pull_image(
            local, repo, remote, remote_repo, child.digest, _untagged(local, repo), depth + 1
        )
    sizes = {}
    wanted = [d for d in parsed.layers if not d.foreign] + (
        [parsed.config] if parsed.config else []
    )
    async with local.sessionmaker() as session:
        missing = set(await content.missing_blobs(session, repo.id, [d.digest for d in wanted]))
    for desc in wanted:
        if desc.digest in missing and desc.digest not in sizes:
            sizes[desc.digest] = await _pull_blob(local, remote, remote_repo, desc.digest)
    await local.storage.put(body)
    record = await _record(local, parsed, digest, body)
    async with local.sessionmaker() as session:
        for blob, size in sizes.items():
            await content.link_blob(session, repo.id, blob, size)
        await write(session, record)
        await session.commit()
    return record


def _untagged(local: Local, repo: Repository) -> Write:
    async def write(session: AsyncSession, record: content.ManifestRecord) -> None:
        await content.put_manifest(session, local.host, repo, record, None, "")

    return write
