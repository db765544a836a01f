"""Blob HEAD/GET (with Range) and DELETE. GET sends the file with Starlette's FileResponse, so
Granian can use the zero-copy `pathsend` extension; drivers without local files stream."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response, StreamingResponse

from dockyard.auth.permissions import AccessLevel
from dockyard.errors import DockyardError, ErrorCode
from dockyard.registry.access import open_repository
from dockyard.registry.ranges import RangeError, parse_range
from dockyard.repos import content
from dockyard.storage.digest import is_valid_digest

router = APIRouter(include_in_schema=False)


def check_digest(digest: str) -> None:
    if not is_valid_digest(digest):
        raise DockyardError(
            ErrorCode.DIGEST_INVALID, "invalid digest", detail={"digest": digest[:200]}
        )


def _blob_unknown(digest: str) -> DockyardError:
    return DockyardError(ErrorCode.BLOB_UNKNOWN, detail={"digest": digest})


@router.head("/v2/{namespace}/{repository}/blobs/{digest}")
@router.get("/v2/{namespace}/{repository}/blobs/{digest}")
async def get_blob(request: Request, namespace: str, repository: str, digest: str) -> Response:
    check_digest(digest)
    services = request.app.state.services
    async with services.session() as session:
        ctx = await open_repository(request, session, namespace, repository, AccessLevel.READ_ONLY)
        size = await content.blob_size(session, ctx.repository.id, digest)
    storage = services.storage
    if size is None or await storage.stat(digest) is None:
        raise _blob_unknown(digest)
    headers = {"Docker-Content-Digest": digest, "Accept-Ranges": "bytes"}
    if request.method == "HEAD":
        headers["Content-Length"] = str(size)
        return Response(status_code=200, headers=headers, media_type="application/octet-stream")
    path = storage.local_path(digest)
    if path is not None:
        return FileResponse(
            path, headers=headers, media_type="application/octet-stream", stat_result=None
        )
    start, end, status = 0, size - 1, 200
    range_header = request.headers.get("range")
    if range_header and size > 0:
        try:
            start, end = parse_range(range_header, size)
        except RangeError as exc:
            raise DockyardError(
                ErrorCode.RANGE_INVALID,
                str(exc),
                headers={"Content-Range": f"bytes */{size}"},
            ) from exc
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
async def delete_blob(request: Request, namespace: str, repository: str, digest: str) -> Response:
    check_digest(digest)
    services = request.app.state.services
    async with services.session() as session:
        ctx = await open_repository(request, session, namespace, repository, AccessLevel.READ_WRITE)
        if not await content.unlink_blob(session, ctx.repository.id, digest):
            raise _blob_unknown(digest)
        await session.commit()
    return Response(status_code=202, headers={"Docker-Content-Digest": digest})
