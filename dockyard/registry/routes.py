"""The /v2 router: API version check, then the protocol from sibling modules, then a fallback
that answers malformed names (more or fewer than two levels, traversal) with NAME_INVALID.
Served by the registry application (`registry/app.py`)."""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from dockyard.accounts.principal import Principal
from dockyard.auth.deps import require_principal
from dockyard.errors import DockyardError, ErrorCode
from dockyard.registry import blobs, catalog, manifests, referrers, tags, uploads
from dockyard.registry.access import NAME_SHAPE

router = APIRouter(include_in_schema=False)

API_VERSION_HEADER = {"Docker-Distribution-API-Version": "registry/2.0"}
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
