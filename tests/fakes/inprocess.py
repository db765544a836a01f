"""The app in this process, for faults a real server cannot be made to show on demand (an
unhandled exception, a full disk): `create_app(settings)` with its lifespan, a migrated database,
an admin, and an httpx client over ASGI."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from dockyard.accounts.service import ensure_admin
from dockyard.app import create_app
from dockyard.config import Settings
from dockyard.db.migrate import upgrade
from dockyard.services import Services

ADMIN = ("admin", "admin-password-for-tests")


@dataclass
class InProcess:
    app: FastAPI
    client: httpx.AsyncClient

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services


@asynccontextmanager
async def inprocess_app(
    data_dir: Path, database_url: str, **overrides: Any
) -> AsyncIterator[InProcess]:
    settings = Settings(
        data_dir=data_dir, database_url=database_url, run_workers=False, **overrides
    )
    await asyncio.to_thread(upgrade, settings.resolved_database_url)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        services: Services = app.state.services
        async with services.session() as session:
            await ensure_admin(session, ADMIN[1])
            await session.commit()  # ensure_admin leaves the commit to its caller
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://dockyard.test", auth=ADMIN
        ) as client:
            yield InProcess(app, client)
