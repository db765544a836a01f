"""The unit of work: a request's session commits when the handler returns, rolls back when it
raises, and a commit that recorded events wakes the consumers (nobody wakes by hand)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from dockyard.api.uow import UnitOfWork
from dockyard.events import bus
from dockyard.events.models import OutboxEvent


class Boom(Exception):
    pass


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[FastAPI]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'uow.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(OutboxEvent.metadata.create_all, tables=[OutboxEvent.__table__])
    makers = async_sessionmaker(engine, expire_on_commit=False)

    @asynccontextmanager
    async def session() -> AsyncIterator[AsyncSession]:
        async with makers() as s:
            yield s

    app = FastAPI()
    app.state.services = SimpleNamespace(session=session)

    def outbox_row(session: AsyncSession) -> None:
        session.add(OutboxEvent(type="TAG_PUSH", payload={}))
        bus.mark_recorded(session)

    @app.post("/record")
    async def record(session: UnitOfWork) -> dict[str, int]:
        outbox_row(session)
        return {"ok": 1}

    @app.post("/fail")
    async def fail(session: UnitOfWork) -> dict[str, int]:
        outbox_row(session)
        await session.flush()
        raise Boom()

    @app.exception_handler(Boom)
    async def boom(request: Request, exc: Boom) -> JSONResponse:
        return JSONResponse({"errors": []}, status_code=409)

    @app.get("/count")
    async def count(session: UnitOfWork) -> dict[str, int]:
        return {"rows": int(await session.scalar(select(func.count(OutboxEvent.seq))) or 0)}

    app.state.engine = engine
    yield app
    await engine.dispose()


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_commit_before_the_answer_and_wake_after_it(app: FastAPI) -> None:
    waker = bus.subscribe_wakeups()
    async with client(app) as c:
        assert (await c.post("/record")).status_code == 200
        # Committed before the answer: a new session sees the row at once.
        assert (await c.get("/count")).json() == {"rows": 1}
    await asyncio.wait_for(waker.wait(), 1)


async def test_a_raising_handler_rolls_back_and_wakes_nobody(app: FastAPI) -> None:
    waker = bus.subscribe_wakeups()
    async with client(app) as c:
        assert (await c.post("/fail")).status_code == 409
        assert (await c.get("/count")).json() == {"rows": 0}
    assert not waker.is_set()


async def test_a_read_only_request_wakes_nobody(app: FastAPI) -> None:
    waker = bus.subscribe_wakeups()
    async with client(app) as c:
        assert (await c.get("/count")).json() == {"rows": 0}
    assert not waker.is_set()
