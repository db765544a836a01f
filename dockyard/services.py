"""The running registry's shared objects, built once by `create_app` and reached by routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from dockyard.config import Settings
from dockyard.db.engine import create_engine, create_sessionmaker
from dockyard.storage.base import BlobStore
from dockyard.storage.factory import build_storage


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    storage: BlobStore

    @property
    def registry_host(self) -> str:
        return self.settings.registry_host

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            yield session

    async def close(self) -> None:
        # The S3 driver holds an HTTP connection pool; the filesystem driver holds nothing.
        storage_close = getattr(self.storage, "close", None)
        if storage_close is not None:
            await storage_close()
        await self.engine.dispose()


def build_services(settings: Settings) -> Services:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.resolved_database_url)
    sessionmaker = create_sessionmaker(engine)
    return Services(
        settings=settings,
        engine=engine,
        sessionmaker=sessionmaker,
        storage=build_storage(settings, sessionmaker),
    )
