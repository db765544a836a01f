"""The subscription lists answer MSR's clients whole (every subscription, one array, as MSR does)
when no page is named, read in batches; with pageSize or pageStart they page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dockyard.webhooks import list_answers
from tests.fakes.inprocess import InProcess, inprocess_app


@pytest.fixture
async def app(tmp_path: Path, database_url: str) -> AsyncIterator[InProcess]:
    async with inprocess_app(tmp_path / "data", database_url) as running:
        r = await running.client.post("/api/v0/repositories/admin", json={"name": "many"})
        assert r.status_code == 201, r.text
        yield running


async def _subscribe(app: InProcess, count: int) -> list[str]:
    ids = []
    for i in range(count):
        r = await app.client.post(
            "/api/v0/webhooks",
            json={"type": "TAG_PUSH", "key": "admin/many", "endpoint": f"https://example.com/{i}"},
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return ids


async def test_no_page_named_answers_every_subscription_across_batches(
    app: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(list_answers, "STREAM_BATCH", 3)  # several reads for 8 subscriptions
    made = await _subscribe(app, 8)
    for path in (
        "/api/v0/webhooks",
        "/api/v0/repositories/admin/many/webhooks",
        "/api/v0/accounts/admin/webhooks",
    ):
        r = await app.client.get(path)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/json")
        assert "X-Next-Page-Start" not in r.headers
        body = r.json()
        assert [w["id"] for w in body] == made
        # The same objects a page answers.
        paged = (await app.client.get(path, params={"pageSize": 1000})).json()
        assert body == paged


async def test_a_named_page_is_one_page(app: InProcess) -> None:
    made = await _subscribe(app, 4)
    r = await app.client.get("/api/v0/webhooks", params={"pageSize": 3})
    assert [w["id"] for w in r.json()] == made[:3]
    assert r.headers["X-Next-Page-Start"] == made[3]
    r = await app.client.get("/api/v0/webhooks", params={"pageStart": made[3]})
    assert [w["id"] for w in r.json()] == made[3:]


async def test_an_empty_list_is_an_empty_array(app: InProcess) -> None:
    r = await app.client.get("/api/v0/repositories/admin/many/webhooks")
    assert r.status_code == 200 and r.json() == []
