"""The /v2 router: API version check; the rest of the protocol is mounted from sibling modules."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from dockyard.accounts.principal import Principal
from dockyard.auth.deps import require_principal

router = APIRouter(include_in_schema=False)

API_VERSION_HEADER = {"Docker-Distribution-API-Version": "registry/2.0"}


@router.get("/v2/")
@router.get("/v2")
async def version_check(_: Principal = Depends(require_principal)) -> JSONResponse:
    return JSONResponse({}, headers=API_VERSION_HEADER)
