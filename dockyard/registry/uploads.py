"""Blob uploads: monolithic POST ?digest=, chunked POST + PATCH (+ Content-Range) + PUT ?digest=,
status GET, cancel DELETE, and cross-repository mount.

The upload row (repos.models.Upload) and the bytes in storage both outlive the process, so a
client resumes after a restart. No database session is held while a body streams: a route
that streams one reads the repository and upload with one plain query first
(`registry/preload.py`, nothing to commit) and opens a unit of work only around its writes
(`unit_of_work_scope`); cancel takes one unit of work for the request (`UnitOfWork`). None
commits by hand.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.api.uow import UnitOfWork, unit_of_work_scope
from dockyard.auth.access import repository_access
from dockyard.auth.deps import get_principal
from dockyard.errors import DockyardError, ErrorCode
from dockyard.registry.access import (
    RepoContext,
    open_repository,
    token_lacks_scope,
    validate_name,
)
from dockyard.registry.blobs import check_digest
from dockyard.registry.bodies import drain
from dockyard.registry.preload import load_repository, load_upload
from dockyard.registry.ranges import RangeError, parse_content_range, upload_range_header
from dockyard.repos import content
from dockyard.repos.service import get_repository
from dockyard.rules.permissions import AccessLevel
from dockyard.services import Services
from dockyard.storage.base import DigestMismatch, UploadOffsetMismatch

router = APIRouter(include_in_schema=False)


def _location(namespace: str, repository: str, upload_id: str) -> str:
    return f"/v2/{namespace}/{repository}/blobs/uploads/{upload_id}"


def _blob_location(namespace: str, repository: str, digest: str) -> str:
    return f"/v2/{namespace}/{repository}/blobs/{digest}"


def _upload_headers(namespace: str, repository: str, upload_id: str, size: int) -> dict[str, str]:
    return {
        "Location": _location(namespace, repository, upload_id),
        "Range": upload_range_header(size),
        "Docker-Upload-UUID": upload_id,
    }


def _upload_unknown(upload_id: str) -> DockyardError:
    return DockyardError(ErrorCode.BLOB_UPLOAD_UNKNOWN, detail={"uuid": upload_id[:100]})


def _valid_upload_id(upload_id: str) -> bool:
    try:
        return str(uuid.UUID(upload_id)) == upload_id
    except ValueError:
        return False


def _too_large(limit: int) -> DockyardError:
    return DockyardError(
        ErrorCode.SIZE_INVALID,
        f"the blob exceeds the registry's maximum upload size of {limit} bytes",
        status=413,
        detail={"limit": limit},
        # The rest of the body is not read: the connection cannot carry another request.
        headers={"Connection": "close"},
    )


def _check_declared(request: Request, services: Services, current: int) -> None:
    """Refuse up front a body whose declared length would take the upload past the limit."""
    limit = services.settings.max_upload_bytes
    declared = request.headers.get("content-length", "")
    if limit and declared.isdigit() and current + int(declared) > limit:
        raise _too_large(limit)


async def _body(request: Request, services: Services, current: int = 0) -> AsyncIterator[bytes]:
    """The request body; with a maximum upload size, cut off before the upload passes it (a
    chunked body declares no length)."""
    limit = services.settings.max_upload_bytes
    received = current
    async for chunk in request.stream():
        if chunk:
            received += len(chunk)
            if limit and received > limit:
                raise _too_large(limit)
            yield chunk


async def _finish(
    services: Services,
    ctx: RepoContext,
    upload_id: str,
    digest: str,
    *,
    has_row: bool,
    session: AsyncSession | None = None,
) -> Response:
    """Verify and publish the upload as a blob, link it to the repository, drop the session
    row: in `session` when the caller holds a unit of work, else in one of its own."""
    try:
        size = await services.storage.upload_commit(upload_id, digest)
    except DigestMismatch as exc:
        raise DockyardError(ErrorCode.DIGEST_INVALID, str(exc), detail={"digest": digest}) from exc
    except FileNotFoundError as exc:
        raise _upload_unknown(upload_id) from exc
    except UploadOffsetMismatch as exc:  # S3: another request is still writing this upload
        raise DockyardError(ErrorCode.RANGE_INVALID, str(exc)) from exc
    if session is not None:
        await _link(session, ctx, upload_id, digest, size, has_row=has_row)
    else:
        async with unit_of_work_scope(services) as own:
            await _link(own, ctx, upload_id, digest, size, has_row=has_row)
    return _blob_created(ctx, digest)


async def _link(
    session: AsyncSession,
    ctx: RepoContext,
    upload_id: str,
    digest: str,
    size: int,
    *,
    has_row: bool,
) -> None:
    if has_row:
        await content.publish_upload(session, ctx.repository.id, digest, size, upload_id)
    else:
        await content.link_blob(session, ctx.repository.id, digest, size)


def _blob_created(ctx: RepoContext, digest: str) -> Response:
    repo = ctx.repository
    return Response(
        status_code=201,
        headers={
            "Location": _blob_location(repo.namespace, repo.name, digest),
            "Docker-Content-Digest": digest,
        },
    )


async def _try_mount(
    request: Request, ctx: RepoContext, digest: str, source: str | None
) -> Response | None:
    """Link a blob the caller can read in `source` into this repository, or None (fall back)."""
    if not source or source.count("/") != 1:
        return None
    src_ns, src_name = source.split("/", 1)
    try:
        validate_name(src_ns, src_name)
    except DockyardError:
        return None
    services = ctx.services
    async with unit_of_work_scope(services) as session:
        src = await get_repository(session, src_ns, src_name)
        if src is None:
            return None
        if await repository_access(session, ctx.principal, src) < AccessLevel.READ_ONLY:
            # A token without `pull` on the source, held by an account that may read it: 401,
            # whose challenge names both scopes, so the client comes back able to mount.
            lacking = await token_lacks_scope(session, ctx.principal, src, AccessLevel.READ_ONLY)
            if lacking is not None:
                raise lacking
            return None
        size = await content.blob_size(session, src.id, digest)
        if size is None or await services.storage.stat(digest) is None:
            return None
        await content.link_blob(session, ctx.repository.id, digest, size)
    return _blob_created(ctx, digest)


@router.post("/v2/{namespace}/{repository}/blobs/uploads/")
@router.post("/v2/{namespace}/{repository}/blobs/uploads")
async def start_upload(request: Request, namespace: str, repository: str) -> Response:
    services: Services = request.app.state.services
    validate_name(namespace, repository)
    # The caller first: a credential check may need its own connection (see get_manifest).
    await get_principal(request)
    params = request.query_params
    if "mount" not in params and "digest" not in params:
        return await _start_chunked(request, services, namespace, repository)
    # A short read of its own (an auto-creation commits in another): a body streams after it.
    async with services.session() as session:
        ctx = await _open_for_push(request, services, session, namespace, repository)
    mount = params.get("mount")
    if mount is not None:
        check_digest(mount)
        mounted = await _try_mount(request, ctx, mount, params.get("from"))
        if mounted is not None:
            return mounted
    digest = params.get("digest")
    if digest is not None:
        check_digest(digest)
        _check_declared(request, services, 0)
        upload_id = str(uuid.uuid4())
        await services.storage.upload_start(upload_id)
        try:
            await services.storage.upload_append(upload_id, _body(request, services))
            return await _finish(services, ctx, upload_id, digest, has_row=False)
        except BaseException:
            # Published, the upload area is gone already: only a failure leaves one to remove.
            await services.storage.upload_cancel(upload_id)
            raise
    return await _start_chunked(request, services, namespace, repository)


async def _open_for_push(
    request: Request, services: Services, session: AsyncSession, namespace: str, repository: str
) -> RepoContext:
    """The repository the caller pushes to (created when the rules allow), read with one plain
    query; `session` only adopts it (no connection is taken for the read)."""
    preloaded = await load_repository(services, session, namespace, repository)
    return await open_repository(
        request,
        session,
        namespace,
        repository,
        AccessLevel.READ_WRITE,
        create=True,
        preloaded=preloaded,
    )


async def _start_chunked(
    request: Request, services: Services, namespace: str, repository: str
) -> Response:
    """A chunked upload's start: the repository's read, the session row and the upload area,
    in one unit of work (no body streams here: one session instead of a read one and a
    write one per layer a client pushes)."""
    started: str | None = None
    try:
        async with unit_of_work_scope(services) as session:
            ctx = await _open_for_push(request, services, session, namespace, repository)
            upload_id = await content.create_upload(session, ctx.repository.id)
            await services.storage.upload_start(upload_id)
            started = upload_id
    except BaseException:
        # No session row (a full disk refuses the commit too): leave no upload area behind.
        if started is not None:
            await services.storage.upload_cancel(started)
        raise
    return Response(status_code=202, headers=_upload_headers(namespace, repository, started, 0))


async def _check_upload(
    request: Request, session: AsyncSession, namespace: str, repository: str, upload_id: str
) -> RepoContext:
    """The repository (the caller may push to it) and its upload `upload_id`, or the error."""
    ctx = await open_repository(request, session, namespace, repository, AccessLevel.READ_WRITE)
    if not _valid_upload_id(upload_id) or (
        await content.get_upload(session, ctx.repository.id, upload_id) is None
    ):
        raise _upload_unknown(upload_id)
    return ctx


async def _open_upload(
    request: Request, namespace: str, repository: str, upload_id: str
) -> RepoContext:
    """`_check_upload` as one plain query in its own short read, for the routes that stream a
    body afterwards (PATCH, PUT) and the status GET: nothing to commit."""
    services: Services = request.app.state.services
    async with services.session() as session:
        return await _read_upload(request, services, session, namespace, repository, upload_id)


async def _read_upload(
    request: Request,
    services: Services,
    session: AsyncSession,
    namespace: str,
    repository: str,
    upload_id: str,
) -> RepoContext:
    """`_open_upload`'s checks; `session` only adopts the repository (no connection is taken
    for the read)."""
    validate_name(namespace, repository)
    await get_principal(request)
    preloaded, found = await load_upload(services, session, namespace, repository, upload_id)
    ctx = await open_repository(
        request, session, namespace, repository, AccessLevel.READ_WRITE, preloaded=preloaded
    )
    if not found or not _valid_upload_id(upload_id):
        raise _upload_unknown(upload_id)
    return ctx


async def _append(request: Request, ctx: RepoContext, upload_id: str) -> int:
    services = ctx.services
    storage = services.storage
    offset: int | None = None
    content_range = request.headers.get("content-range")
    if content_range:
        try:
            offset, _end = parse_content_range(content_range)
        except RangeError as exc:
            raise DockyardError(ErrorCode.RANGE_INVALID, str(exc)) from exc
    current = await storage.upload_size(upload_id)
    if current is None:
        raise _upload_unknown(upload_id)
    _check_declared(request, services, current)
    try:
        size = await storage.upload_append(upload_id, _body(request, services, current), offset)
    except UploadOffsetMismatch as exc:
        current = await storage.upload_size(upload_id) or 0
        repo = ctx.repository
        headers = _upload_headers(repo.namespace, repo.name, upload_id, current)
        if not await drain(request):
            headers["Connection"] = "close"
        raise DockyardError(ErrorCode.RANGE_INVALID, str(exc), headers=headers) from exc
    except FileNotFoundError as exc:
        raise _upload_unknown(upload_id) from exc
    # No database write per chunk: the bytes on disk are the truth for the upload's size and
    # its last activity (gc reads the file's mtime), which keeps chunked pushes cheap.
    return size


@router.patch("/v2/{namespace}/{repository}/blobs/uploads/{upload_id}")
async def patch_upload(
    request: Request, namespace: str, repository: str, upload_id: str
) -> Response:
    ctx = await _open_upload(request, namespace, repository, upload_id)
    size = await _append(request, ctx, upload_id)
    return Response(
        status_code=202, headers=_upload_headers(namespace, repository, upload_id, size)
    )


@router.put("/v2/{namespace}/{repository}/blobs/uploads/{upload_id}")
async def put_upload(request: Request, namespace: str, repository: str, upload_id: str) -> Response:
    if request.headers.get("content-length", "0") != "0" or request.headers.get(
        "transfer-encoding"
    ):
        # A last chunk streams: no unit of work is open while it does.
        ctx = await _open_upload(request, namespace, repository, upload_id)
        digest = _put_digest(request)
        await _append(request, ctx, upload_id)
        return await _finish(ctx.services, ctx, upload_id, digest, has_row=True)
    # No body (the usual PUT after the PATCHes): the upload's read, the publication and the
    # rows in one unit of work, instead of a read session and a write one per layer.
    services: Services = request.app.state.services
    async with unit_of_work_scope(services) as session:
        ctx = await _read_upload(request, services, session, namespace, repository, upload_id)
        digest = _put_digest(request)
        return await _finish(services, ctx, upload_id, digest, has_row=True, session=session)


def _put_digest(request: Request) -> str:
    digest = request.query_params.get("digest")
    if digest is None:
        raise DockyardError(ErrorCode.DIGEST_INVALID, "the digest query parameter is required")
    check_digest(digest)
    return digest


@router.get("/v2/{namespace}/{repository}/blobs/uploads/{upload_id}")
async def upload_status(
    request: Request, namespace: str, repository: str, upload_id: str
) -> Response:
    ctx = await _open_upload(request, namespace, repository, upload_id)
    size = await ctx.services.storage.upload_size(upload_id)
    if size is None:
        raise _upload_unknown(upload_id)
    return Response(
        status_code=204, headers=_upload_headers(namespace, repository, upload_id, size)
    )


@router.delete("/v2/{namespace}/{repository}/blobs/uploads/{upload_id}")
async def cancel_upload(
    request: Request, session: UnitOfWork, namespace: str, repository: str, upload_id: str
) -> Response:
    ctx = await _check_upload(request, session, namespace, repository, upload_id)
    # The file first: when the disk is full, the database write may fail, and the bytes of the
    # upload are what must go (deleting them is also what makes room for the write).
    await ctx.services.storage.upload_cancel(upload_id)
    await content.delete_upload(session, upload_id)
    return Response(status_code=204)
