"""The web UI's repository list pages and searches in SQL (ui.queries.visible_repositories) and
shows exactly what the read rule allows: a case-insensitive substring of "namespace/name" or the
short description (LIKE wildcards taken literally), a window by offset with the full total."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dockyard.accounts import service as accounts
from dockyard.accounts.principal import Principal
from dockyard.services import Services
from dockyard.ui.queries import visible_repositories
from tests.fakes.inprocess import InProcess, inprocess_app

REPOS = [
    ("alpha", "public", "The Web shop"),
    ("beta", "private", "100% internal"),
    ("gamma_x", "public", ""),
    ("delta", "public", "web tools"),
]


@pytest.fixture
async def app(tmp_path: Path, database_url: str) -> AsyncIterator[InProcess]:
    async with inprocess_app(tmp_path / "data", database_url) as running:
        for name, visibility, description in REPOS:
            body = {"name": name, "visibility": visibility, "shortDescription": description}
            r = await running.client.post("/api/v0/repositories/admin", json=body)
            assert r.status_code == 201, r.text
        yield running


async def _names(
    app: InProcess, who: str, search: str, offset: int = 0, limit: int = 10
) -> tuple[list[str], int]:
    services: Services = app.app.state.services
    async with services.session() as session:
        if who == "admin":
            account = await accounts.get_account(session, "admin")
        else:
            account = await accounts.create_user(session, who, f"{who}-password-long")
            await session.commit()
        assert account is not None
        principal = Principal(account.id, account.name, account.is_admin)
        rows, total = await visible_repositories(session, principal, search, offset, limit)
    return [row.repo.name for row in rows], total


async def test_search_is_a_case_insensitive_substring(app: InProcess) -> None:
    assert await _names(app, "admin", "WEB") == (["alpha", "delta"], 2)
    assert await _names(app, "admin", "admin/gam") == (["gamma_x"], 1)


async def test_like_wildcards_are_literal(app: InProcess) -> None:
    assert await _names(app, "admin", "%") == (["beta"], 1)
    assert await _names(app, "admin", "a_x") == (["gamma_x"], 1)


async def test_a_window_with_the_full_total(app: InProcess) -> None:
    assert await _names(app, "admin", "", offset=1, limit=2) == (["beta", "delta"], 4)


async def test_others_see_what_the_read_rule_allows(app: InProcess) -> None:
    assert await _names(app, "visitor", "") == (["alpha", "delta", "gamma_x"], 3)
