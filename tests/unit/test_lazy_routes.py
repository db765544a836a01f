"""An HTTP worker's feature routes load on the first request that needs one (`LazyRoutes`):
registry token requests and health checks do not load them; any other request does, and then
the route table is the one an eagerly built application has, in the same order."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

from dockyard.app import create_app
from dockyard.config import Settings


def _table(app: FastAPI) -> list[tuple[str, str]]:
    return [(type(route).__name__, getattr(route, "path", "")) for route in app.router.routes]


async def _get(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dockyard.test") as client:
        return await client.get(path)


async def test_routes_load_on_first_need_in_the_eager_order(tmp_path: Path) -> None:
    eager = create_app(Settings(data_dir=tmp_path / "eager", run_workers=False))
    lazy = create_app(Settings(data_dir=tmp_path / "lazy", run_workers=False), lazy_routes=True)
    before = _table(lazy)
    assert len(before) < len(_table(eager))

    token = await _get(lazy, "/auth/token?service=dockyard.test")
    assert token.status_code == 200  # an anonymous token, from the route included at once
    assert _table(lazy) == before

    document = await _get(lazy, "/api/v0/openapi.json")
    assert document.status_code == 200
    assert _table(lazy) == _table(eager)
    assert document.json()["paths"] == (await _get(eager, "/api/v0/openapi.json")).json()["paths"]


async def test_an_unknown_path_is_the_same_404_after_loading(tmp_path: Path) -> None:
    eager = create_app(Settings(data_dir=tmp_path / "eager", run_workers=False))
    lazy = create_app(Settings(data_dir=tmp_path / "lazy", run_workers=False), lazy_routes=True)
    answer, expected = await _get(lazy, "/no/such/page"), await _get(eager, "/no/such/page")
    assert (answer.status_code, answer.json()) == (expected.status_code, expected.json())
    assert _table(lazy) == _table(eager)
