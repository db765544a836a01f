"""docs/api.md's table of MSR routes against the application's route table, both ways: every
implemented or extension row is served (path and method), no not-implemented row is, and every
`/api/v0` and `/enzi/v0` operation of the OpenAPI document is in the table. The app is built with
`create_app`; requests are matched the way Starlette routes them, not sent."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from starlette.routing import Match

from dockyard.app import create_app
from dockyard.config import Settings

DOC = Path(__file__).resolve().parents[3] / "docs" / "api.md"
STATUSES = {"implemented", "extension", "not implemented"}
PLACEHOLDER = re.compile(r"\{[^/{}]+\}")


@dataclass(frozen=True)
class Row:
    methods: tuple[str, ...]
    path: str
    status: str

    def sample(self) -> str:
        """The path with each placeholder filled in by a plain segment."""
        return PLACEHOLDER.sub("x1", self.path)

    def covers(self, method: str, sample: str) -> bool:
        parts = PLACEHOLDER.split(self.path)
        pattern = "^" + "[^/]+".join(re.escape(part) for part in parts) + "$"
        return method in self.methods and re.match(pattern, sample) is not None


def rows() -> list[Row]:
    text = DOC.read_text()
    start, end = text.index("<!-- msr-routes -->"), text.index("<!-- /msr-routes -->")
    found = []
    for line in text[start:end].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[1].startswith("`"):
            continue
        methods = tuple(m.strip() for m in cells[0].split(","))
        found.append(Row(methods, cells[1].strip("`"), cells[2]))
    return found


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    folder = tmp_path_factory.mktemp("routes-doc")
    yield create_app(Settings(data_dir=folder, run_workers=False))


def served(app: FastAPI, method: str, path: str) -> bool:
    scope = {"type": "http", "path": path, "method": method, "root_path": "", "path_params": {}}
    return any(route.matches(scope)[0] is Match.FULL for route in app.router.routes)


def test_the_table_is_well_formed() -> None:
    table = rows()
    assert len(table) > 60
    assert {r.status for r in table} == STATUSES
    for row in table:
        assert row.path.startswith("/"), row
        assert set(row.methods) <= {"GET", "POST", "PUT", "PATCH", "DELETE"}, row
    keys = [(m, r.path) for r in table for m in r.methods]
    assert len(keys) == len(set(keys)), "a route is listed twice"


def test_implemented_rows_are_served(app: FastAPI) -> None:
    missing = [
        (m, r.path)
        for r in rows()
        if r.status != "not implemented"
        for m in r.methods
        if not served(app, m, r.sample())
    ]
    assert missing == []


def test_not_implemented_rows_are_not_served(app: FastAPI) -> None:
    present = [
        (m, r.path)
        for r in rows()
        if r.status == "not implemented"
        for m in r.methods
        if served(app, m, r.sample())
    ]
    assert present == []


def test_every_operation_is_in_the_table(app: FastAPI) -> None:
    listed = [r for r in rows() if r.status != "not implemented"]
    unlisted = [
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith(("/api/v0/", "/enzi/v0/"))
        for method in operations
        if not any(r.covers(method.upper(), PLACEHOLDER.sub("x1", path)) for r in listed)
    ]
    assert unlisted == []
