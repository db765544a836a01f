"""Shared fixtures: a real dockyard server per test (SQLite, or PostgreSQL when
DOCKYARD_TEST_DATABASE_URL is set), and image layouts for skopeo."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fakes.databases import create_database, drop_database
from tests.fakes.server import RunningServer, make_server

ServerFactory = Callable[..., RunningServer]


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start as many servers as a test needs; each gets its own data folder and database."""
    started: list[RunningServer] = []

    def factory(env: dict[str, str] | None = None, start: bool = True) -> RunningServer:
        folder = tmp_path / f"server{len(started)}"
        folder.mkdir()
        srv = make_server(folder, create_database(folder), env)
        started.append(srv)
        if start:
            srv.start()
        return srv

    yield factory
    for srv in started:
        srv.kill()
        drop_database(srv.database_url)


@pytest.fixture
def server(server_factory: ServerFactory) -> RunningServer:
    return server_factory()


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """An empty database for in-process tests (migrate it yourself or via the app)."""
    url = create_database(tmp_path)
    yield url
    drop_database(url)


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server shared by a module's tests (faster); tests must not depend on each other."""
    folder = tmp_path_factory.mktemp("module-server")
    srv = make_server(folder, create_database(folder))
    srv.start()
    yield srv
    srv.kill()
    drop_database(srv.database_url)
