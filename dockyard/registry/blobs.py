"""Blob HEAD/GET (with Range) and DELETE. HEAD/GET read repository, access and blob with one
plain query (`registry/preload.py`: a push HEADs every layer, a pull GETs each). GET sends the
file with Starlette's FileResponse, so Granian can use the zero-copy `pathsend` extension;
drivers without local files stream, or redirect to a presigned URL (S3, DOCKYARD_S3_REDIRECT).
DELETE is one unit of work (`UnitOfWork`): it commits when the handler returns."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response, StreamingResponse

from dockyard.api.uow import UnitOfWork
from dockyard.auth.deps import get_principal
from dockyard.errors import DockyardError, ErrorCode
from dockyard.registry.access import open_repository, validate_name
from dockyard.registry.preload import load_blob
from dockyard.registry.ranges import RangeError, check_ranges, parse_range
from dockyard.repos import content
from dockyard.rules.permissions import AccessLevel
from dockyard.storage.base import BlobRedirects
from dockyard.storage.digest import is_valid_digest

router = APIRouter(include_in_schema=False)


def check_digest(digest: str) -> None:
    if not is_valid_digest(digest):
        raise DockyardError(
            ErrorCode.DIGEST_INVALID, "invalid digest", detail={"digest": digest[:200]}
        )


def in_use(message: str, digest: str, use: content.TagUse) -> DockyardError:
    """409 DENIED: deleting `digest` would leave a tag pointing at content that cannot be
    pulled (the spec lets a registry refuse a delete; docs/registry.md says when)."""
    return DockyardError(
        ErrorCode.DENIED,
        message,
        status=409,
        detail={"digest": digest, "tag": use.tag, "manifest": use.manifest},
    )


def _range_not_satisfiable(exc: RangeError, size: int) -> DockyardError:
    return DockyardError(
        ErrorCode.RANGE_INVALID, str(exc), headers={"Content-Range": f"bytes */{size}"}
    )


# Starlette reads a file response it cannot hand to `pathsend` (several ranges) in 64 KiB
# pieces, each a thread hop: 1 MiB pieces send a large one about 4 times faster.
_FILE_CHUNK = 1024 * 1024


def _stat_file(path: Path | None) -> os.stat_result | None:
    """The blob file's stat, once: the file response reuses it instead of its own stat in a
    thread (a pull of many small layers pays that per layer)."""
    if path is None:
        return None
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


def _blob_unknown(digest: str) -> DockyardError:
    return DockyardError(ErrorCode.BLOB_UNKNOWN, detail={"digest": digest})


@router.head("/v2/{namespace}/{repository}/blobs/{digest}")
@router.get("/v2/{namespace}/{repository}/blobs/{digest}")
async def get_blob(request: Request, namespace: str, repository: str, digest: str) -> Response:
    check_digest(digest)
    services = request.app.state.services
    validate_name(namespace, repository)
    # The caller first: a credential check may need its own connection (see get_manifest).
    await get_principal(request)
    async with services.session() as session:
        preloaded, size = await load_blob(services, session, namespace, repository, digest)
        await open_repository(
            request, session, namespace, repository, AccessLevel.READ_ONLY, preloaded=preloaded
        )
    storage = services.storage
    # A HEAD (a push asks one per layer) needs only the driver's stat below.
    get = request.method != "HEAD"
    path = storage.local_path(digest) if size is not None and get else None
    stat = _stat_file(path)
    if size is None or (stat is None and await storage.stat(digest) is None):
        raise _blob_unknown(digest)
    headers = {"Docker-Content-Digest": digest, "Accept-Ranges": "bytes"}
    if not get:
        headers["Content-Length"] = str(size)
        return Response(status_code=200, headers=headers, media_type="application/octet-stream")
    range_header = request.headers.get("range")
    if range_header and size == 0:
        # Nothing to slice: RFC 9110 lets a server ignore Range, and the whole (empty) blob
        # is the useful answer.
        return Response(status_code=200, headers=headers, media_type="application/octet-stream")
    if range_header:
        try:
            check_ranges(range_header, size)
        except RangeError as exc:
            raise _range_not_satisfiable(exc, size) from exc
    if isinstance(storage, BlobRedirects):
        url = await storage.redirect_url(digest)
        if url is not None:  # the client reads from the object store (Range included)
            return Response(status_code=307, headers={**headers, "Location": url})
    if path is not None and stat is not None and (not range_header or "," in range_header):
        # The whole file by Granian's `pathsend` (it reads the file off the GIL), or several
        # ranges as Starlette's multipart answer. A single range streams below (the driver
        # reads cached pages on the event loop, without Starlette's thread hop per piece).
        response = FileResponse(
            path, headers=headers, media_type="application/octet-stream", stat_result=stat
        )
        response.chunk_size = _FILE_CHUNK
        return response
    start, end, status = 0, size - 1, 200
    if range_header and "," not in range_header:  # several ranges: send it whole (allowed)
        start, end = parse_range(range_header, size)
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(end - start + 1 if size else 0)
    return StreamingResponse(
        storage.read(digest, start, end if size else None),
        status_code=status,
        headers=headers,
        media_type="application/octet-stream",
    )


@router.delete("/v2/{namespace}/{repository}/blobs/{digest}")
async def delete_blob(
    request: Request, session: UnitOfWork, namespace: str, repository: str, digest: str
) -> Response:
    check_digest(digest)
    ctx = await open_repository(request, session, namespace, repository, AccessLevel.READ_WRITE)
    use = await content.tag_keeping_blob(session, ctx.repository.id, digest)
    if use is not None:
        raise in_use(
            f"blob {digest} is used by the manifest that tag {use.tag!r} keeps "
            f"({use.manifest}); delete or move that tag first",
            digest,
            use,
        )
    if not await content.unlink_blob(session, ctx.repository.id, digest):
        raise _blob_unknown(digest)
    return Response(status_code=202, headers={"Docker-Content-Digest": digest})
