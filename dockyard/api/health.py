"""Health endpoints: MSR's `/_ping` and `/health`: 200 when the database and storage respond."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from dockyard.services import Services

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


@router.get("/_ping", include_in_schema=False)
@router.get("/health")
async def health(request: Request) -> JSONResponse:
    problems = await _check(request.app.state.services)
    if problems:
        return JSONResponse({"healthy": False, "problems": problems}, status_code=503)
    return JSONResponse({"healthy": True, "error": ""})
