"""MSR's `GET /api/v0/admin/version`: the running version, `{"version": "..."}`.

The Terraform provider for MSR calls it first to check its credentials (an error here is
"invalid credentials" to it), so it needs a signed-in caller, any user: wrong credentials are a
401, anonymous callers too.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict

from dockyard import __version__
from dockyard.accounts.principal import Principal
from dockyard.api.responses import errors
from dockyard.auth.deps import require_principal

router = APIRouter(prefix="/api/v0/admin", tags=["meta"])


class VersionOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"version": "0.1.0"}]})

    version: str


@router.get(
    "/version",
    summary="The running dockyard version",
    response_model=VersionOut,
    responses=errors(401, 429),
)
async def version(principal: Principal = Depends(require_principal)) -> VersionOut:
    return VersionOut(version=__version__)
