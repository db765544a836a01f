"""The /v2 router: API version check, then the protocol from sibling modules, then a fallback
that answers malformed names (more or fewer than two levels, traversal) with NAME_INVALID; and
the middleware that puts `Docker-Distribution-API-Version` on every /v2 answer."""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dockyard.accounts.principal import Principal
from dockyard.auth.deps import require_principal
from dockyard.errors import DockyardError, ErrorCode
from dockyard.registry import blobs, catalog, manifests, referrers, tags, uploads
from dockyard.registry.access import NAME_SHAPE

router = APIRouter(include_in_schema=False)

API_VERSION_HEADER = {"Docker-Distribution-API-Version": "registry/2.0"}
_API_VERSION = (b"docker-distribution-api-version", b"registry/2.0")


class ApiVersionMiddleware:
    """Every /v2 response, errors and 401 challenges included, says which API it speaks
    (clients such as docker read it off the 401 of the first ping). Pure ASGI, so
    `http.response.pathsend` passes through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith("/v2"):
            await self.app(scope, receive, send)
            return

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != _API_VERSION[0]]
                message = {**message, "headers": [*headers, _API_VERSION]}
            await send(message)

        await self.app(scope, receive, send_with_version)


_OPERATION_RE = re.compile(r"^(?P<name>.+?)/(blobs|manifests|tags|referrers)(/.*)?$")


@router.get("/v2/")
@router.get("/v2")
async def version_check(_: Principal = Depends(require_principal)) -> JSONResponse:
    return JSONResponse({}, headers=API_VERSION_HEADER)


router.include_router(catalog.router)
router.include_router(uploads.router)
router.include_router(blobs.router)
router.include_router(manifests.router)
router.include_router(tags.router)
router.include_router(referrers.router)


@router.api_route("/v2/{rest:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
async def fallback(request: Request, rest: str) -> JSONResponse:
    match = _OPERATION_RE.match(rest)
    if match:
        # A HEAD answer has no body to say why. A 404 there lets a pushing client (skopeo
        # HEADs each blob first) go on to the POST, whose 400 carries the message it shows.
        status = 404 if request.method == "HEAD" else None
        raise DockyardError(
            ErrorCode.NAME_INVALID,
            f"invalid repository name {match.group('name')[:200]!r}: {NAME_SHAPE} "
            "(exactly two levels, e.g. myorg/app)",
            detail={"name": match.group("name")[:300]},
            status=status,
        )
    raise DockyardError(ErrorCode.NAME_UNKNOWN, "no such registry endpoint")
