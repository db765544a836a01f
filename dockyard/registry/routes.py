"""The /v2 router: API version check, then the protocol from sibling modules, then a fallback
that answers malformed names (more or fewer than two levels, traversal) with NAME_INVALID."""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from dockyard.accounts.principal import Principal
from dockyard.auth.deps import require_principal
from dockyard.errors import DockyardError, ErrorCode
from dockyard.registry import blobs, catalog, manifests, referrers, tags, uploads

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
    if _OPERATION_RE.match(rest):
        raise DockyardError(
            ErrorCode.NAME_INVALID,
            "repository names are <namespace>/<repository>",
            detail={"path": request.url.path[:300]},
        )
    raise DockyardError(ErrorCode.NAME_UNKNOWN, "no such registry endpoint")
