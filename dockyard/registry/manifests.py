"""Manifests: PUT/GET/HEAD/DELETE by tag or digest. Validates the body against its media type,
verifies the digest, requires referenced blobs and child manifests, reads the image config for
os/architecture, stores the bytes, then lets repos.content record it (and its events).

Writes are units of work (`api/uow.py`) and nothing here commits or wakes by hand: the events
they record wake the consumers when they commit. A PUT reads its body between two short steps
(access, then the write), holding no session meanwhile; GET reads with one plain query."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

from cachetools import LRUCache
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.exc import IntegrityError

from dockyard.accounts.principal import Principal
from dockyard.api.uow import UnitOfWork, unit_of_work_scope
from dockyard.auth.deps import get_principal
from dockyard.errors import DockyardError, ErrorCode
from dockyard.events.types import ImageRef
from dockyard.registry.access import RepoContext, open_repository, settled_access, validate_name
from dockyard.registry.blobs import in_use
from dockyard.registry.bodies import drain
from dockyard.registry.mediatypes import (
    IMAGE_CONFIG_TYPES,
    MAX_SIZE,
    ManifestError,
    ParsedManifest,
    accepts,
    parse_manifest,
    platform_of_config,
)
from dockyard.registry.preload import PullRow, attach_pulled, load_for_pull
from dockyard.registry.pulls import outbox_row, pull_recorder
from dockyard.repos import content
from dockyard.rules.permissions import AccessLevel
from dockyard.services import Services
from dockyard.storage.digest import algorithm, is_valid_digest, new_hasher

SUPPORTED_ALGORITHMS = ("sha256", "sha512")

router = APIRouter(include_in_schema=False)

TAG_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")
_MAX_CONFIG_BYTES = 1024 * 1024


def _is_digest_ref(reference: str) -> bool:
    return ":" in reference


def _check_reference(reference: str) -> None:
    """A PUT's reference: a tag, or a digest of an algorithm we verify (sha256, sha512)."""
    if _is_digest_ref(reference):
        if not is_valid_digest(reference):
            alg = reference.split(":", 1)[0][:20]
            message = (
                f"unsupported digest algorithm {alg!r}: use sha256 or sha512"
                if alg not in SUPPORTED_ALGORITHMS
                else "invalid digest"
            )
            raise DockyardError(
                ErrorCode.DIGEST_INVALID, message, detail={"digest": reference[:200]}
            )
    elif not TAG_RE.fullmatch(reference):
        raise DockyardError(
            ErrorCode.TAG_INVALID,
            "invalid tag: up to 128 letters, digits, '_', '.' and '-', not starting with "
            "'.' or '-'",
            detail={"tag": reference[:200]},
        )


def _is_valid_reference(reference: str) -> bool:
    try:
        _check_reference(reference)
    except DockyardError:
        return False
    return True


def _unknown(reference: str) -> DockyardError:
    return DockyardError(ErrorCode.MANIFEST_UNKNOWN, detail={"reference": reference})


async def _too_large(request: Request, limit: int) -> DockyardError:
    headers = {} if await drain(request) else {"Connection": "close"}
    return DockyardError(
        ErrorCode.MANIFEST_TOO_LARGE, f"manifests are limited to {limit} bytes", headers=headers
    )


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise await _too_large(request, limit)
    parts: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise await _too_large(request, limit)
        parts.append(chunk)
    return b"".join(parts)


async def _read_small_blob(services: Services, digest: str, limit: int) -> bytes | None:
    size = await services.storage.stat(digest)
    if size is None or size > limit:
        return None
    parts = [chunk async for chunk in services.storage.read(digest)]
    return b"".join(parts)


async def _describe(
    services: Services, ctx: RepoContext, parsed: ParsedManifest, digest: str, body: bytes
) -> content.ManifestRecord:
    """Check references exist and gather what the content service records."""
    async with unit_of_work_scope(services) as session:
        if parsed.is_index:
            missing = await content.missing_manifests(
                session, ctx.repository.id, (c.digest for c in parsed.children)
            )
        else:
            wanted = [d.digest for d in parsed.layers if not d.foreign]
            if parsed.config is not None:
                wanted.append(parsed.config.digest)
            missing = await content.missing_blobs(session, ctx.repository.id, wanted)
    if missing:
        raise DockyardError(
            ErrorCode.MANIFEST_BLOB_UNKNOWN,
            detail={"missing": missing[:20]},
        )
    os_name = arch = ""
    config = parsed.config
    if config is not None and config.media_type in IMAGE_CONFIG_TYPES:
        config_body = await _read_small_blob(services, config.digest, _MAX_CONFIG_BYTES)
        if config_body is not None:
            os_name, arch = platform_of_config(config_body)
    image_size = (config.size if config else 0) + sum(d.size for d in parsed.layers)
    if parsed.is_index:
        image_size = sum(c.size for c in parsed.children)
    # Each size fits int64; their sum need not (the column is int64 too).
    image_size = min(image_size, MAX_SIZE)
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
        image_size=image_size,
        annotations_json=json.dumps(parsed.annotations) if parsed.annotations else "",
        blob_refs=[d.digest for d in parsed.layers]
        + ([config.digest] if config is not None else []),
        child_refs=[(c.digest, c.os, c.architecture) for c in parsed.children],
    )


@router.put("/v2/{namespace}/{repository}/manifests/{reference}")
async def put_manifest(
    request: Request, namespace: str, repository: str, reference: str
) -> Response:
    _check_reference(reference)
    services: Services = request.app.state.services
    async with unit_of_work_scope(services) as session:
        ctx = await open_repository(
            request, session, namespace, repository, AccessLevel.READ_WRITE, create=True
        )
    body = await _read_body(request, services.settings.max_manifest_bytes)
    try:
        parsed = parse_manifest(body, request.headers.get("content-type"))
    except ManifestError as exc:
        raise DockyardError(exc.code, exc.message) from exc
    if _is_digest_ref(reference):
        hasher = new_hasher(reference)
        hasher.update(body)
        digest = f"{hasher.name}:{hasher.hexdigest()}"
        if digest != reference:
            raise DockyardError(
                ErrorCode.DIGEST_INVALID,
                "the manifest does not hash to the digest in the URL",
                detail={"expected": reference, "actual": digest},
            )
    # Stored and served under the digest it was pushed by (the spec's SHOULD for sha512): a
    # client that pushed by sha512 pulls by sha512.
    record = await _describe(services, ctx, parsed, _stored_digest(reference, body), body)
    await _store(services, record.digest, body)
    tag = None if _is_digest_ref(reference) else reference
    for attempt in range(3):
        try:
            async with unit_of_work_scope(services) as session:
                await content.put_manifest(
                    session, services.registry_host, ctx.repository, record, tag, ctx.author
                )
            break
        except IntegrityError:
            # A concurrent push of the same manifest or tag won the insert: try again.
            if attempt == 2:
                raise
    headers = {
        "Location": f"/v2/{namespace}/{repository}/manifests/{record.digest}",
        "Docker-Content-Digest": record.digest,
    }
    if record.subject_digest:
        headers["OCI-Subject"] = record.subject_digest
    return Response(status_code=201, headers=headers)


def _sha256(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _stored_digest(reference: str, body: bytes) -> str:
    """The digest a manifest is recorded under: the URL's when pushed by a (verified) digest,
    else sha256 of the bytes."""
    return reference if _is_digest_ref(reference) else _sha256(body)


async def _store(services: Services, digest: str, body: bytes) -> None:
    if algorithm(digest) == "sha256":
        await services.storage.put(body)
        return
    # `put` names content by sha256; other algorithms go through a verified upload.
    upload_id = str(uuid.uuid4())
    await services.storage.upload_start(upload_id)
    try:

        async def chunks() -> AsyncIterator[bytes]:
            yield body

        await services.storage.upload_append(upload_id, chunks())
        await services.storage.upload_commit(upload_id, digest)
    finally:
        await services.storage.upload_cancel(upload_id)


# Content named by its digest never changes, so the bytes of recently pulled manifests are kept
# per process (the database row still decides whether the manifest exists and who may read it).
# Only the event loop touches it: no lock.
_BODIES: LRUCache[str, bytes] = LRUCache(maxsize=8 << 20, getsizeof=len)
_MAX_CACHED_BODY = 256 << 10


def _read_manifest_bytes(services: Services, digest: str) -> bytes | None:
    body = _BODIES.get(digest)
    if body is not None:
        return body
    path = services.storage.local_path(digest)
    if path is None:
        return None
    try:
        # Manifests are small (<= 4 MiB, usually a few KiB): a direct read beats a thread hop.
        body = path.read_bytes()
    except FileNotFoundError:
        return None
    if len(body) <= _MAX_CACHED_BODY:
        _BODIES[digest] = body
    return body


async def _check_pull(
    request: Request,
    principal: Principal | None,
    namespace: str,
    repository: str,
    pull: PullRow | None,
) -> None:
    """Return when `principal` may pull. Decided from the pull's own row when that settles it
    (no session: the common case); else by `open_repository` over a session, which also gives
    every refusal its answer (401, 404 NAME_UNKNOWN, a token's insufficient scope)."""
    if pull is not None:
        level = settled_access(
            principal,
            f"{namespace}/{repository}",
            pull.namespace_id,
            pull.namespace_is_org,
            pull.visibility == "public",
        )
        if level is not None and level >= AccessLevel.READ_ONLY:
            return
    services: Services = request.app.state.services
    async with services.session() as session:
        preloaded = None if pull is None else attach_pulled(session, namespace, repository, pull)
        await open_repository(
            request, session, namespace, repository, AccessLevel.READ_ONLY, preloaded=preloaded
        )


@router.head("/v2/{namespace}/{repository}/manifests/{reference}")
@router.get("/v2/{namespace}/{repository}/manifests/{reference}")
async def get_manifest(
    request: Request, namespace: str, repository: str, reference: str
) -> Response:
    # A reference that is no valid tag or digest names no manifest: 404 MANIFEST_UNKNOWN after
    # the access check (the spec's answer; a 400 would also tell who may not look).
    services: Services = request.app.state.services
    validate_name(namespace, repository)
    # Resolve the caller first: a credential check may need its own connection, and holding
    # ours meanwhile would let concurrent requests exhaust the pool waiting on each other.
    principal = await get_principal(request)
    pull = await load_for_pull(services, namespace, repository, reference)
    await _check_pull(request, principal, namespace, repository, pull)
    if pull is None or pull.digest is None:
        raise _unknown(reference[:200])
    # Go clients send one Accept header per media type.
    accept = ",".join(request.headers.getlist("accept"))
    if not accepts(accept, pull.media_type):
        raise DockyardError(
            ErrorCode.MANIFEST_UNKNOWN,
            f"the manifest is a {pull.media_type}, which the Accept header excludes",
            detail={"reference": reference},
        )
    headers = {
        "Docker-Content-Digest": pull.digest,
        "Content-Type": pull.media_type,
        "ETag": f'"{pull.digest}"',
    }
    if request.method == "HEAD":
        headers["Content-Length"] = str(pull.size)
        return Response(status_code=200, headers=headers)
    body = _read_manifest_bytes(services, pull.digest)
    if body is None:
        parts = [chunk async for chunk in services.storage.read(pull.digest)]
        body = b"".join(parts)
        if len(body) <= _MAX_CACHED_BODY:  # drivers without local files (S3): kept too
            _BODIES[pull.digest] = body
    rows: list[dict[str, Any]] = []
    if pull.pull_subscribed or services.settings.pull_events == "always":
        tag = "" if _is_digest_ref(reference) else reference
        image = ImageRef(namespace, repository, pull.digest, pull.os, pull.architecture, tag)
        author = principal.name if principal is not None else ""
        rows = [outbox_row(e) for e in content.pull_events(services.registry_host, image, author)]
    await pull_recorder(request).record(rows, pull.repository_id)
    return Response(content=body, status_code=200, headers=headers)


@router.delete("/v2/{namespace}/{repository}/manifests/{reference}")
async def delete_manifest(
    request: Request, session: UnitOfWork, namespace: str, repository: str, reference: str
) -> Response:
    services: Services = request.app.state.services
    ctx = await open_repository(request, session, namespace, repository, AccessLevel.READ_WRITE)
    host = services.registry_host
    if not _is_valid_reference(reference):
        raise _unknown(reference[:200])
    if not _is_digest_ref(reference):
        try:
            await content.delete_tag(session, host, ctx.repository, reference, ctx.author)
        except DockyardError as exc:
            raise _unknown(reference) from exc
        return Response(status_code=202)
    use = await content.tag_keeping_manifest(session, ctx.repository.id, reference)
    if use is not None:
        raise in_use(
            f"manifest {reference} is a child of the index {use.manifest} that tag "
            f"{use.tag!r} points at; delete or move that tag first",
            reference,
            use,
        )
    if not await content.delete_manifest(session, host, ctx.repository, reference, ctx.author):
        raise _unknown(reference)
    return Response(status_code=202)
