"""A repository search in the UI is paged without counting: each page reads one row past
itself, so the total it gives is the rows up to the page and one more while more follow, and no
statement counts the matches (a count would read every match, whatever the page)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from dockyard.accounts import service as accounts
from dockyard.accounts.principal import Principal
from dockyard.ui.queries import visible_repositories
from tests.fakes.inprocess import ADMIN, InProcess, inprocess_app

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
async def app(tmp_path: Path, database_url: str) -> AsyncIterator[InProcess]:
    async with inprocess_app(tmp_path / "data", database_url) as running:
        for i in range(25):
            body = {"name": f"web{i:02d}", "visibility": "public"}
            r = await running.client.post("/api/v0/repositories/admin", json=body)
            assert r.status_code == 201, r.text
        r = await running.client.post("/api/v0/repositories/admin", json={"name": "other"})
        assert r.status_code == 201, r.text
        yield running


async def _page(app: InProcess, search: str, offset: int) -> tuple[list[str], int, list[str]]:
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    async with app.services.session() as session:
        admin = await accounts.get_account(session, "admin")
        assert admin is not None
        principal = Principal(admin.id, admin.name, admin.is_admin)
        engine = app.services.engine.sync_engine
        event.listen(engine, "before_cursor_execute", seen)
        try:
            rows, total = await visible_repositories(session, principal, search, offset, 10)
        finally:
            event.remove(engine, "before_cursor_execute", seen)
    return [row.repo.name for row in rows], total, statements


async def test_search_pages_say_whether_more_follow(app: InProcess) -> None:
    names, total, statements = await _page(app, "WEB", 0)
    assert names == [f"web{i:02d}" for i in range(10)]
    assert total == 11  # more follow: one more page at least
    assert not [s for s in statements if "FROM repositories" in s and "count(" in s], statements
    names, total, _ = await _page(app, "web", 10)
    assert (names[0], total) == ("web10", 21)
    names, total, _ = await _page(app, "web", 20)
    assert (names, total) == ([f"web{i:02d}" for i in range(20, 25)], 25)  # the last page


async def test_the_list_without_a_search_keeps_its_total(app: InProcess) -> None:
    names, total, _ = await _page(app, "", 20)
    assert (len(names), total) == (6, 26)


async def test_the_search_page_offers_the_next_page_without_a_count(app: InProcess) -> None:
    token = CSRF.search((await app.client.get("/login")).text)
    assert token is not None
    body = {"username": ADMIN[0], "password": ADMIN[1], "csrf_token": token.group(1)}
    assert (await app.client.post("/login", data=body)).status_code == 303
    first = (await app.client.get("/repositories", params={"q": "web"})).text
    assert "<span>Page 1</span>" in first and "page_no=2" in first
    last = (await app.client.get("/repositories", params={"q": "web", "page_no": 2})).text
    assert "<span>Page 2</span>" in last and "page_no=3" not in last  # 20 a page
    listing = (await app.client.get("/repositories")).text
    assert "(26 repositories)" in listing
