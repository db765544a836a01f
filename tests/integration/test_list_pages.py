"""Lists page in SQL, end to end: the webhook lists of the API (pageSize, pageStart: the id of
the page's first subscription, X-Next-Page-Start, X-Resource-Count) and the UI's Tags and
Webhooks tabs (a page, Next and Previous links, the Tags tab's filter by name)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.databases import create_database, drop_database
from tests.fakes.server import RunningServer, make_server
from tests.integration.registry_helpers import image_manifest, put_manifest

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
LINK = re.compile(r'href="([^"]+)" rel="(next|prev)"')
ROW = re.compile(r"<tr data-webhook-id=\"([0-9a-f]+)\"")


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The shared module server, given time to start on a loaded machine."""
    folder = tmp_path_factory.mktemp("list-pages")
    srv = make_server(folder, create_database(folder))
    srv.start(timeout=300)
    yield srv
    srv.kill()
    drop_database(srv.database_url)


@pytest.fixture(scope="module")
def admin(module_server: RunningServer) -> Iterator[httpx.Client]:
    with module_server.client(auth=module_server.admin_auth) as client:
        yield client


@pytest.fixture(scope="module")
def ui(module_server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=module_server.url, timeout=30) as client:
        token = CSRF.search(client.get("/login").text).group(1)  # type: ignore[union-attr]
        answer = client.post(
            "/login",
            data={
                "username": "admin",
                "password": module_server.admin_password,
                "csrf_token": token,
            },
        )
        assert answer.status_code == 303, answer.text
        yield client


def _subscribe(admin: httpx.Client, key: str, count: int) -> list[str]:
    ids = []
    for i in range(count):
        answer = admin.post(
            "/api/v0/webhooks",
            json={"type": "TAG_PUSH", "key": key, "endpoint": f"https://example.com/h{i}"},
        )
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["id"])
    return ids


def _links(page: str) -> dict[str, str]:
    return {rel: href.replace("&amp;", "&") for href, rel in LINK.findall(page)}


def test_the_webhook_lists_page_by_subscription_id(admin: httpx.Client) -> None:
    assert admin.post("/api/v0/repositories/admin", json={"name": "hooks"}).status_code == 201
    made = _subscribe(admin, "admin/hooks", 5)
    path = "/api/v0/repositories/admin/hooks/webhooks"
    seen: list[str] = []
    start = ""
    for _ in range(5):
        answer = admin.get(path, params={"pageSize": 2, "pageStart": start, "count": True})
        assert answer.status_code == 200, answer.text
        assert answer.headers["X-Resource-Count"] == "5"
        seen += [w["id"] for w in answer.json()]
        start = answer.headers.get("X-Next-Page-Start", "")
        if not start:
            break
    # Every subscription once, oldest first (created one after the other).
    assert seen == made
    everyone = admin.get("/api/v0/webhooks", params={"pageSize": 1000}).json()
    assert [w["id"] for w in everyone if w["key"] == "admin/hooks"] == made
    first = admin.get("/api/v0/webhooks", params={"pageSize": 1})
    assert len(first.json()) == 1 and first.headers["X-Next-Page-Start"]
    assert admin.get("/api/v0/webhooks", params={"pageSize": 0}).status_code == 400


def test_the_tags_tab_pages_and_filters(admin: httpx.Client, ui: httpx.Client) -> None:
    repo = "admin/many-tags"
    body = image_manifest(admin, repo, b"layer")
    for i in range(55):
        assert put_manifest(admin, repo, f"v{i:02d}", body).status_code == 201
    first = ui.get(f"/repositories/{repo}/tags")
    assert first.status_code == 200
    names = re.findall(r'/repositories/admin/many-tags/tags/(v\d\d)"', first.text)
    # Newest first, a page of 50.
    assert names[:2] == ["v54", "v53"] and len(names) == 50
    links = _links(first.text)
    assert set(links) == {"next"}
    second = ui.get(links["next"])
    rest = re.findall(r'/repositories/admin/many-tags/tags/(v\d\d)"', second.text)
    assert rest == ["v04", "v03", "v02", "v01", "v00"]
    assert set(_links(second.text)) == {"prev"}
    back = ui.get(_links(second.text)["prev"])
    assert re.findall(r'/repositories/admin/many-tags/tags/(v\d\d)"', back.text) == names
    found = ui.get(f"/repositories/{repo}/tags", params={"q": "v1"})
    assert re.findall(r'/repositories/admin/many-tags/tags/(v\d\d)"', found.text) == [
        f"v{i}" for i in range(19, 9, -1)
    ]


def test_the_webhooks_tab_pages(admin: httpx.Client, ui: httpx.Client) -> None:
    assert admin.post("/api/v0/repositories/admin", json={"name": "tab-hooks"}).status_code == 201
    made = _subscribe(admin, "admin/tab-hooks", 53)
    first = ui.get("/repositories/admin/tab-hooks/webhooks")
    assert ROW.findall(first.text) == made[:50]
    second = ui.get(_links(first.text)["next"])
    assert ROW.findall(second.text) == made[50:]
    assert ROW.findall(ui.get(_links(second.text)["prev"]).text) == made[:50]
