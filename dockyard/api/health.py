"""Health endpoints: MSR's `/_ping` and `/health`.

200 when the database and storage answer, the webhook delivery engine is alive (when this
server runs one), and the data folder's file system has room; otherwise 503 with `problems`
naming each failed check (`database`, `storage`, `delivery`, `disk`). Cheap by design, since
load balancers poll it: one `SELECT 1`, one stat, two small file reads and one statvfs.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from dockyard.config import Settings
from dockyard.services import Services
from dockyard.storage import space
from dockyard.webhooks import liveness

router = APIRouter(tags=["health"])


async def _check(services: Services) -> dict[str, str]:
    problems: dict[str, str] = {}
    try:
        async with services.session() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:
        problems["database"] = type(exc).__name__
    try:
        await services.storage.stat("sha256:" + "0" * 64)
    except Exception as exc:
        problems["storage"] = type(exc).__name__
    return problems


def _local_checks(settings: Settings, problems: dict[str, str]) -> dict[str, Any]:
    """Delivery liveness and disk space (file reads only, run in a thread)."""
    details: dict[str, Any] = {}
    verdict = liveness.assess(
        settings.data_dir,
        in_process=settings.run_workers,
        timeout=settings.health_heartbeat_timeout,
        now=time.time(),
    )
    if verdict is not None:
        details["delivery"] = verdict.detail
        if verdict.problem:
            problems["delivery"] = verdict.problem
    try:
        free = space.free_bytes(settings.data_dir)
    except OSError as exc:
        problems["disk"] = f"cannot read the free space of the data folder: {exc.strerror}"
    else:
        details["disk"] = {"freeBytes": free, "minFreeBytes": settings.health_min_free_bytes}
        failure = space.recent_write_failure()
        if free < settings.health_min_free_bytes:
            problems["disk"] = (
                f"{free} bytes free in the data folder, below DOCKYARD_HEALTH_MIN_FREE_BYTES "
                f"({settings.health_min_free_bytes})"
            )
        elif failure:
            problems["disk"] = f"a write failed for want of space: {failure}"
    return details


@router.get("/_ping", include_in_schema=False)
@router.get("/health")
async def health(request: Request) -> JSONResponse:
    services: Services = request.app.state.services
    problems = await _check(services)
    details = await asyncio.to_thread(_local_checks, services.settings, problems)
    if problems:
        body = {
            "healthy": False,
            "error": "; ".join(f"{name}: {why}" for name, why in problems.items()),
            "problems": problems,
            **details,
        }
        return JSONResponse(body, status_code=503)
    return JSONResponse({"healthy": True, "error": "", **details})
