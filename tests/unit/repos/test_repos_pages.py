"""The repositories API's lists page in SQL: the tag list and the repository list follow MSR's
paging (pageStart is the key of the first record, an unknown key starts at the next one,
X-Next-Page-Start, X-Resource-Count with count=true), and the tags are read one page (plus
one row) at a time, not all of them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from dockyard.repos.models import Repository, Tag
from dockyard.services import Services
from tests.fakes.inprocess import InProcess, inprocess_app

DIGEST = "sha256:" + "c" * 64


@pytest.fixture
async def app(tmp_path: Path, database_url: str) -> AsyncIterator[InProcess]:
    async with inprocess_app(tmp_path / "data", database_url) as running:
        r = await running.client.post("/api/v0/repositories/admin", json={"name": "many"})
        assert r.status_code == 201
        services: Services = running.app.state.services
        async with services.session() as session:
            repo = await session.scalar(select(Repository).where(Repository.name == "many"))
            assert repo is not None
            session.add_all(
                Tag(repository_id=repo.id, name=f"t{i:02d}", digest=DIGEST) for i in range(25)
            )
            await session.commit()
        yield running


async def _pages(app: InProcess, path: str, size: int) -> list[list[str]]:
    pages: list[list[str]] = []
    start = ""
    while True:
        params: dict[str, Any] = {"pageSize": size, "pageStart": start, "count": "true"}
        r = await app.client.get(path, params=params)
        assert r.status_code == 200, r.text
        body: list[dict[str, Any]] = r.json()
        pages.append([item["name"] for item in body])
        assert r.headers["x-resource-count"] == "25"
        start = r.headers.get("x-next-page-start", "")
        if not start:
            return pages


async def test_tag_pages_follow_each_other(app: InProcess) -> None:
    pages = await _pages(app, "/api/v0/repositories/admin/many/tags", 10)
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [name for page in pages for name in page] == [f"t{i:02d}" for i in range(25)]
    assert pages[1][0] == "t10"


async def test_an_unknown_start_key_starts_at_the_next_tag(app: InProcess) -> None:
    r = await app.client.get(
        "/api/v0/repositories/admin/many/tags", params={"pageSize": 3, "pageStart": "t04x"}
    )
    assert [t["name"] for t in r.json()] == ["t05", "t06", "t07"]
    assert r.headers["x-next-page-start"] == "t08"
    assert "x-resource-count" not in r.headers
    assert r.json()[0]["manifest"] == {"digest": DIGEST}


async def test_a_tag_page_reads_one_page_of_tags(app: InProcess) -> None:
    services: Services = app.app.state.services
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = services.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        r = await app.client.get("/api/v0/repositories/admin/many/tags", params={"pageSize": 4})
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(r.json()) == 4
    tag_reads = [s for s in statements if "FROM tags" in s and "count(" not in s.lower()]
    assert tag_reads and all("LIMIT" in s for s in tag_reads), tag_reads


async def test_the_repository_list_pages_by_full_name(app: InProcess) -> None:
    for name in ("a", "b", "c"):
        r = await app.client.post("/api/v0/repositories/admin", json={"name": name})
        assert r.status_code == 201
    r = await app.client.get("/api/v0/repositories", params={"pageSize": 2, "pageStart": "admin/b"})
    assert [x["name"] for x in r.json()["repositories"]] == ["b", "c"]
    assert r.headers["x-next-page-start"] == "admin/many"
