"""`GET /api/v0/replicas`: every dockyard process and its health (administrators). Thin."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from dockyard.accounts.principal import Principal
from dockyard.api.responses import errors
from dockyard.api.routing import AuthenticateFirstRoute
from dockyard.api.uow import UnitOfWork
from dockyard.auth.deps import require_principal
from dockyard.clock import utcnow
from dockyard.errors import DockyardError, ErrorCode
from dockyard.replicas import service
from dockyard.replicas.schemas import ReplicaList, ReplicaOut

router = APIRouter(prefix="/api/v0/replicas", tags=["replicas"], route_class=AuthenticateFirstRoute)


async def _admin(principal: Principal = Depends(require_principal)) -> Principal:
    if not principal.is_admin:
        raise DockyardError(
            ErrorCode.NOT_AUTHORIZED, "Only registry administrators may list the replicas."
        )
    return principal


def to_out(view: service.ReplicaView) -> ReplicaOut:
    row = view.row
    return ReplicaOut(
        replicaID=row.id,
        host=row.host,
        pid=row.pid,
        version=row.version,
        role=row.role,
        status="OK" if view.live else "DOWN",
        startedAt=row.started_at,
        lastSeenAt=row.last_seen_at,
        dbVersion=row.db_version,
    )


@router.get(
    "",
    response_model=ReplicaList,
    summary="The registry's processes, their role and heartbeat (administrators)",
    responses=errors(401, 403),
)
async def list_replicas(
    session: UnitOfWork, _: Annotated[Principal, Depends(_admin)]
) -> ReplicaList:
    views = await service.listing(session, utcnow())
    return ReplicaList(replicas=[to_out(v) for v in views])
