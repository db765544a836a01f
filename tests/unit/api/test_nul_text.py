"""A NUL character in a path, a query or a JSON string is the client's error: PostgreSQL refuses
such text even in a lookup, and that must answer 400 in the error envelope, never 500. SQLite
stores it, so there the same requests get their ordinary answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.exc import DBAPIError

from dockyard.db.transient import is_unstorable_text
from tests.fakes.inprocess import InProcess, inprocess_app


@pytest.fixture
async def app(tmp_path: Path, database_url: str) -> AsyncIterator[InProcess]:
    async with inprocess_app(tmp_path / "data", database_url) as running:
        yield running


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("GET", "/api/v0/repositories/ad%00min", None),
        ("GET", "/enzi/v0/accounts/ad%00min", None),
        ("GET", "/api/v0/repositories/admin/x%00y", None),
        ("POST", "/api/v0/repositories/admin", {"name": "ok", "shortDescription": "a\u0000b"}),
    ],
)
async def test_nul_text_is_never_a_server_error(
    app: InProcess, method: str, path: str, body: dict[str, str] | None
) -> None:
    r = await app.client.request(method, path, json=body)
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert r.json()["errors"][0]["code"]


class _AsyncpgLike(Exception):
    sqlstate = "22021"


def test_the_database_refusing_nul_text_is_recognised() -> None:
    wrapped = DBAPIError("SELECT", {}, _AsyncpgLike("invalid byte sequence"))
    assert is_unstorable_text(wrapped)
    assert not is_unstorable_text(DBAPIError("SELECT", {}, Exception("connection reset")))
    assert not is_unstorable_text(ValueError("x"))
