"""The admin's Replicas page: every dockyard process (API replicas, workers), its role, version,
heartbeat and the vulnerability database its scanner loaded. Thin: `replicas.service` reads."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from dockyard.api.uow import UnitOfWork
from dockyard.clock import utcnow
from dockyard.replicas import service as replicas
from dockyard.ui.render import FORBIDDEN, Page, page_context, render

router = APIRouter(include_in_schema=False)


@router.get("/admin/replicas")
async def replicas_page(session: UnitOfWork, page: Page = Depends(page_context)) -> Response:
    if not page.user.is_admin:
        raise FORBIDDEN
    views = await replicas.listing(session, utcnow())
    return render(page, "replicas_admin.html", replicas=views)
