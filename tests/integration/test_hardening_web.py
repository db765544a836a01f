"""Hardening of the web-facing surface, end to end against the real server: one login limiter
for the web form and the APIs, sessions that sign-out and password changes end, the webhook
"created" page that a reload cannot repeat, private repositories that answer like missing ones
in /api/v0, who may read /metrics, and a data folder nobody else can read."""

from __future__ import annotations

import os
import re
import stat
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.fakes.server import RunningServer
from tests.integration.accounts_helpers import (
    PASSWORD,
    create_org,
    create_repo,
    create_team,
    create_user,
    grant_repo,
    ok,
    push_image,
)

pytestmark = pytest.mark.e2e

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
MAX_FAILURES = 10  # LoginRateLimiter's default


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def _csrf(html: str) -> str:
    found = CSRF.search(html)
    assert found, html[:500]
    return found.group(1)


def _web_login(client: httpx.Client, user: str, password: str) -> httpx.Response:
    token = _csrf(client.get("/login").text)
    return client.post("/login", data={"username": user, "password": password, "csrf_token": token})


@contextmanager
def _browser(server: RunningServer, user: str, password: str = PASSWORD) -> Iterator[httpx.Client]:
    """A signed-in browser: its cookie jar holds the session."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        answer = _web_login(client, user, password)
        assert answer.status_code == 303, answer.text
        yield client


def _signed_in(client: httpx.Client) -> bool:
    return client.get("/repositories").status_code == 200


def _page_csrf(client: httpx.Client) -> str:
    return _csrf(client.get("/repositories").text)


@pytest.fixture(scope="module")
def admin(module_server: RunningServer) -> Iterator[httpx.Client]:
    with module_server.client(auth=module_server.admin_auth) as client:
        yield client


# -- item 14: one login limiter ----------------------------------------------------------------


def test_web_login_is_rate_limited_and_shares_the_api_counter(
    module_server: RunningServer, admin: httpx.Client
) -> None:
    user = _name("guessed")
    create_user(admin, user)
    with httpx.Client(base_url=module_server.url, timeout=30) as web:
        for _ in range(MAX_FAILURES):
            assert _web_login(web, user, "wrong-password").status_code == 401
        # Blocked: the right password is refused too, on the form ...
        blocked = _web_login(web, user, PASSWORD)
        assert blocked.status_code == 429, blocked.text
        assert "Too many failed sign-ins" in blocked.text
        assert int(blocked.headers["retry-after"]) > 0
        assert not _signed_in(web)
    # ... and over HTTP Basic: the same (user, address) counter.
    with module_server.client(auth=(user, PASSWORD)) as api:
        answer = api.get("/enzi/v0/accounts")
        assert answer.status_code == 429
        assert answer.json()["errors"][0]["code"] == "RATE_LIMITED"


def test_api_failures_block_the_web_login(
    module_server: RunningServer, admin: httpx.Client
) -> None:
    user = _name("apiguess")
    create_user(admin, user)
    with module_server.client(auth=(user, "wrong-password")) as api:
        for _ in range(MAX_FAILURES // 2):
            assert api.get("/enzi/v0/accounts").status_code == 401
    with httpx.Client(base_url=module_server.url, timeout=30) as web:
        for _ in range(MAX_FAILURES - MAX_FAILURES // 2):
            assert _web_login(web, user, "wrong-password").status_code == 401
        assert _web_login(web, user, PASSWORD).status_code == 429
    # Another user from the same address is not affected.
    other = _name("bystander")
    create_user(admin, other)
    with _browser(module_server, other) as web:
        assert _signed_in(web)


# -- item 15: sessions end -----------------------------------------------------------------------


def test_sign_out_ends_the_session_for_every_copy_of_the_cookie(
    module_server: RunningServer, admin: httpx.Client
) -> None:
    user = _name("leaving")
    create_user(admin, user)
    with _browser(module_server, user) as web:
        stolen = dict(web.cookies)
        token = _page_csrf(web)
        assert web.post("/logout", data={"csrf_token": token}).status_code == 303
    with httpx.Client(base_url=module_server.url, cookies=stolen, timeout=30) as replay:
        answer = replay.get("/repositories")
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login")
        # The API, with the cookie and its CSRF token, does not take it either.
        api = replay.get("/enzi/v0/accounts", headers={"x-csrf-token": token})
        assert api.status_code == 401


def test_changing_the_password_ends_the_other_sessions(
    module_server: RunningServer, admin: httpx.Client
) -> None:
    user = _name("rotating")
    create_user(admin, user)
    with _browser(module_server, user) as here, _browser(module_server, user) as there:
        # Changed from the browser `here` (the API with the session cookie and CSRF token):
        # `here` stays signed in, `there` is signed out.
        changed = here.post(
            f"/enzi/v0/accounts/{user}/changePassword",
            json={"oldPassword": PASSWORD, "newPassword": "second-password"},
            headers={"x-csrf-token": _page_csrf(here)},
        )
        assert changed.status_code == 200, changed.text
        assert _signed_in(here)
        assert not _signed_in(there)

        # Changed over HTTP Basic (no session of its own): every session ends.
        with module_server.client(auth=(user, "second-password")) as api:
            ok(
                api.post(
                    f"/enzi/v0/accounts/{user}/changePassword",
                    json={"oldPassword": "second-password", "newPassword": "third-password"},
                )
            )
        assert not _signed_in(here)

    # An administrator setting the password ends the user's sessions too.
    with _browser(module_server, user, "third-password") as again:
        assert _signed_in(again)
        ok(admin.patch(f"/enzi/v0/accounts/{user}", json={"password": "fourth-password"}))
        assert not _signed_in(again)


# -- item 23: post/redirect/get for a new webhook -----------------------------------------------


def test_reloading_the_webhook_created_page_creates_nothing(
    module_server: RunningServer, admin: httpx.Client
) -> None:
    repo = _name("hooked")
    create_repo(admin, "admin", repo, "private")
    with _browser(module_server, "admin", module_server.admin_password) as web:
        made = web.post(
            f"/repositories/admin/{repo}/webhooks",
            data={
                "type": "TAG_PUSH",
                "endpoint": "https://example.com/hook",
                "csrf_token": _page_csrf(web),
            },
        )
        assert made.status_code == 303, made.text
        assert "whsec_" not in made.text
        created = made.headers["location"]
        first = web.get(created)
        assert first.status_code == 200
        assert "Webhook created" in first.text
        secret = re.search(r'id="webhook-secret">([^<]+)<', first.text)
        assert secret and secret.group(1).startswith("whsec_")
        # A reload: no second webhook, and the secret is not shown again.
        reload = web.get(created)
        assert reload.status_code == 303
        assert "whsec_" not in reload.text
        assert web.get(reload.headers["location"]).status_code == 200
    hooks = ok(admin.get(f"/api/v0/repositories/admin/{repo}/webhooks")).json()
    assert [h["endpoint"] for h in hooks] == ["https://example.com/hook"]


# -- item 16: private repositories answer like missing ones --------------------------------------


@pytest.fixture(scope="module")
def private_repo(module_server: RunningServer, admin: httpx.Client) -> tuple[str, str, str]:
    """(org, outsider, reader): a private org/secret with an image, a signed-in user with no
    grants, and a team member with read-only access."""
    org, outsider, reader = _name("org"), _name("outsider"), _name("reader")
    create_user(admin, outsider)
    create_user(admin, reader)
    create_org(admin, org)
    create_team(admin, org, "readers", [reader])
    create_repo(admin, org, "secret", "private")
    grant_repo(admin, f"{org}/secret", "readers", "read-only")
    push_image(admin, f"{org}/secret", "v1")
    return org, outsider, reader


REPO_REQUESTS: dict[str, Callable[[httpx.Client, str], httpx.Response]] = {
    "get": lambda c, r: c.get(f"/api/v0/repositories/{r}"),
    "tags": lambda c, r: c.get(f"/api/v0/repositories/{r}/tags"),
    "tag": lambda c, r: c.get(f"/api/v0/repositories/{r}/tags/v1"),
    "webhooks": lambda c, r: c.get(f"/api/v0/repositories/{r}/webhooks"),
    "team access": lambda c, r: c.get(f"/api/v0/repositories/{r}/teamAccess"),
    "patch": lambda c, r: c.patch(f"/api/v0/repositories/{r}", json={"shortDescription": "x"}),
    "delete tag": lambda c, r: c.delete(f"/api/v0/repositories/{r}/tags/v1"),
    "grant": lambda c, r: c.put(
        f"/api/v0/repositories/{r}/teamAccess/readers", json={"accessLevel": "admin"}
    ),
    "delete": lambda c, r: c.delete(f"/api/v0/repositories/{r}"),
}


@pytest.mark.parametrize("route", REPO_REQUESTS)
def test_a_private_repository_you_cannot_see_answers_like_a_missing_one(
    module_server: RunningServer, private_repo: tuple[str, str, str], route: str
) -> None:
    org, outsider, _reader = private_repo
    request = REPO_REQUESTS[route]
    with module_server.client(auth=(outsider, PASSWORD)) as client:
        private = request(client, f"{org}/secret")
        missing = request(client, f"{org}/no-such-repo")
    assert private.status_code == missing.status_code == 404, (private.text, missing.text)
    assert private.json()["errors"][0]["code"] == missing.json()["errors"][0]["code"]
    assert private.json()["errors"][0]["message"] == missing.json()["errors"][0]["message"]


@pytest.mark.parametrize("route", ["get", "tags", "tag"])
def test_anonymous_callers_cannot_tell_private_from_missing(
    module_server: RunningServer, private_repo: tuple[str, str, str], route: str
) -> None:
    org, _outsider, _reader = private_repo
    with module_server.client() as client:
        private = REPO_REQUESTS[route](client, f"{org}/secret")
        missing = REPO_REQUESTS[route](client, f"{org}/no-such-repo")
    assert private.status_code == missing.status_code == 404
    assert private.json()["errors"][0]["code"] == missing.json()["errors"][0]["code"]
    assert private.json()["errors"][0]["message"] == missing.json()["errors"][0]["message"]


def test_a_reader_still_gets_403_for_changes(
    module_server: RunningServer, private_repo: tuple[str, str, str]
) -> None:
    org, _outsider, reader = private_repo
    with module_server.client(auth=(reader, PASSWORD)) as client:
        assert REPO_REQUESTS["get"](client, f"{org}/secret").status_code == 200
        assert REPO_REQUESTS["patch"](client, f"{org}/secret").status_code == 403
        assert REPO_REQUESTS["team access"](client, f"{org}/secret").status_code == 403


# -- item 16: /metrics ---------------------------------------------------------------------------


def test_metrics_need_an_admin_by_default(
    module_server: RunningServer, admin: httpx.Client
) -> None:
    user = _name("curious")
    create_user(admin, user)
    with module_server.client() as anonymous:
        answer = anonymous.get("/metrics")
        assert answer.status_code == 401
        assert "www-authenticate" in answer.headers
        assert "dockyard_webhook" not in answer.text
        wrong = anonymous.get("/metrics", headers={"authorization": "Bearer guess"})
        assert wrong.status_code == 401
    with module_server.client(auth=(user, PASSWORD)) as plain:
        assert plain.get("/metrics").status_code == 403
    scraped = admin.get("/metrics")
    assert scraped.status_code == 200
    assert "dockyard_webhook_queue_depth" in scraped.text


def test_metrics_token_and_off(server_factory: Callable[..., RunningServer]) -> None:
    tokened = server_factory({"DOCKYARD_METRICS_TOKEN": "scrape-token-123"})
    with tokened.client() as client:
        good = client.get("/metrics", headers={"authorization": "Bearer scrape-token-123"})
        assert good.status_code == 200
        assert "dockyard_webhook_queue_depth" in good.text
        assert client.get("/metrics", headers={"authorization": "Bearer nope"}).status_code == 401
        assert client.get("/metrics").status_code == 401
    off = server_factory({"DOCKYARD_METRICS": "off"})
    with off.client(auth=off.admin_auth) as client:
        assert client.get("/metrics").status_code == 404
    public = server_factory({"DOCKYARD_METRICS": "public"})
    with public.client() as client:
        assert client.get("/metrics").status_code == 200


# -- item 16: file permissions -------------------------------------------------------------------


def _loose(root: Path) -> list[str]:
    """Every path under root (root included) that its group or others may use."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode) and stat.S_IMODE(mode) & 0o077:
            found.append(f"{path.relative_to(root.parent)} {oct(stat.S_IMODE(mode))}")
    return found


def test_the_data_folder_is_private(
    server_factory: Callable[..., RunningServer], tmp_path: Path
) -> None:
    old_umask = os.umask(0o022)  # a typical login shell's: files 0644, folders 0755
    try:
        # SQLite inside the data folder (the default), whatever the test database is.
        srv = server_factory({"DOCKYARD_DATABASE_URL": ""}, start=False)
        # A data folder from an older version: world-readable folder and files.
        srv.data_dir.mkdir(mode=0o755)
        (srv.data_dir / "storage").mkdir(mode=0o755)
        (srv.data_dir / "notes.txt").write_text("left by an older version")
        (srv.data_dir / "notes.txt").chmod(0o644)
        srv.data_dir.chmod(0o755)
        srv.start()
    finally:
        os.umask(old_umask)
    with srv.client(auth=srv.admin_auth) as admin:
        push_image(admin, "admin/private-bits", "v1", content=b"a private layer")
        # An upload left in progress, and the UI's signing key.
        ok(admin.post("/v2/admin/private-bits/blobs/uploads/"), 202)
        assert admin.get("/login").status_code == 200
    data = srv.data_dir
    assert (data / "dockyard.db").exists()
    assert any((data / "storage" / "blobs").rglob("*")), "the push stored no blob"
    assert any((data / "storage" / "uploads").rglob("data")), "no upload file"
    assert (data / "secret_key").exists()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "notes.txt").stat().st_mode) == 0o600
    assert _loose(data) == []
