"""MSR's `/api/v0/meta`: the registry settings (`GET`, and `POST` answering 202 as DTR does) and
the cluster status. Registry administrators only. Thin: `meta.service` checks and stores."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from dockyard.accounts.principal import Principal
from dockyard.api.bodies import body_doc
from dockyard.api.responses import errors
from dockyard.api.routing import AuthenticateFirstRoute
from dockyard.api.uow import UnitOfWork
from dockyard.auth.deps import require_principal, services_of
from dockyard.clock import utcnow
from dockyard.errors import DockyardError, ErrorCode
from dockyard.meta import service as meta
from dockyard.meta.schemas import ClusterStatus, RegistrySettings, SettingsChange

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v0/meta", tags=["meta"], route_class=AuthenticateFirstRoute)


async def _admin(principal: Principal = Depends(require_principal)) -> Principal:
    if not principal.is_admin:
        raise DockyardError(
            ErrorCode.NOT_AUTHORIZED, "Only registry administrators may use /api/v0/meta."
        )
    return principal


Admin = Annotated[Principal, Depends(_admin)]


async def _shown(request: Request, session: Any) -> dict[str, Any]:
    settings = services_of(request).settings
    # The node's id file is read (and written once) off the event loop.
    replica = await asyncio.to_thread(meta.node_replica_id, settings)
    return meta.view(await meta.effective(session, settings), settings, replica)


@router.get(
    "/settings",
    response_model=RegistrySettings,
    summary="The registry settings (administrators)",
    responses=errors(401, 403),
)
async def get_settings(request: Request, session: UnitOfWork, _: Admin) -> dict[str, Any]:
    return await _shown(request, session)


@router.post(
    "/settings",
    status_code=202,
    response_model=RegistrySettings,
    summary="Change registry settings; only the keys given change (administrators)",
    responses=errors(400, 401, 403, 413),
    openapi_extra=body_doc(SettingsChange),
)
async def change_settings(request: Request, session: UnitOfWork, admin: Admin) -> dict[str, Any]:
    # Read by hand: unknown keys are named in the 400, not dropped by a model.
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise DockyardError(ErrorCode.INVALID_JSON, detail={"problem": str(exc)[:200]}) from exc
    changes = meta.check_change(body, await _shown(request, session))
    await meta.change(session, changes, admin.name)
    log.info("meta.settings.changed", extra={"by": admin.name, "changes": changes})
    return await _shown(request, session)


@router.get(
    "/cluster_status",
    response_model=ClusterStatus,
    summary="The registry's worker processes and their health (administrators)",
    responses=errors(401, 403),
)
async def cluster_status(session: UnitOfWork, _: Admin) -> dict[str, Any]:
    return meta.cluster_view(await meta.cluster_replicas(session, utcnow()))
