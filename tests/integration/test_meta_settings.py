"""/api/v0/meta on the real server (SQLite, or PostgreSQL with DOCKYARD_TEST_DATABASE_URL): the
settings as an MSR script reads and changes them (GET shape, POST 202, 400 naming unknown keys,
403 for a non-admin), applied live in both processes: a push to a new repository refused at once
with createRepositoryOnPush off, and the delivery process cutting a slow webhook at the
webhookTimeout just set; the cluster status showing the node's worker."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.databases import create_database, drop_database
from tests.fakes.receiver import Receiver, Reply
from tests.fakes.server import RunningServer, make_server
from tests.integration.accounts_helpers import PASSWORD, create_user
from tests.integration.registry_helpers import error_code, push
from tests.integration.test_ui_pages import signed_in

ENV = {"DOCKYARD_WEBHOOK_BLOCKED_NETWORKS": "127.0.0.2/32"}
SETTINGS = "/api/v0/meta/settings"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    folder: Path = tmp_path_factory.mktemp("meta-settings")
    server = make_server(folder, create_database(folder), ENV)
    server.start(timeout=180)  # a loaded machine starts slowly
    yield server
    server.kill()
    drop_database(server.database_url)


@pytest.fixture
def admin(srv: RunningServer) -> Iterator[httpx.Client]:
    with srv.client(auth=srv.admin_auth) as client:
        yield client
        # Every test starts from the configured values.
        reset = {k: None for k in ("createRepositoryOnPush", "webhookTimeout", "scanningEnabled")}
        assert client.post(SETTINGS, json=reset).status_code == 202


def wait_until(predicate: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached")


def test_settings_as_a_script_reads_and_changes_them(
    srv: RunningServer, admin: httpx.Client
) -> None:
    r = admin.get(SETTINGS)
    assert r.status_code == 200, r.text
    body = r.json()
    types = {
        "dtrHost": str,
        "replicaID": str,
        "createRepositoryOnPush": bool,
        "scanningEnabled": bool,
        "scanningSyncOnline": bool,
        "webhookTimeout": float,
    }
    for key, kind in types.items():
        assert isinstance(body[key], kind), (key, body)
    assert body["dtrHost"] == srv.host and body["webhookTimeout"] == 15.0

    r = admin.post(SETTINGS, json={"scanningSyncOnline": True})
    assert r.status_code == 202, r.text
    assert admin.get(SETTINGS).json()["scanningSyncOnline"] is True
    assert "scanningSyncOnline" in admin.get(SETTINGS).json()["notImplemented"]
    # curl -d without a content type, as MSR scripts send it.
    r = admin.post(SETTINGS, content=json.dumps({"scanningSyncOnline": None}))
    assert r.status_code == 202, r.text
    assert admin.get(SETTINGS).json()["scanningSyncOnline"] is False

    r = admin.post(SETTINGS, json={"sso": True, "createRepositoryOnPush": "no", "zz": 1})
    assert r.status_code == 400
    err = r.json()["errors"][0]
    assert err["code"] == "INVALID_SETTINGS" and err["detail"] == {"unknown": ["sso", "zz"]}
    r = admin.post(SETTINGS, json={"createRepositoryOnPush": "no"})
    assert r.status_code == 400 and "createRepositoryOnPush" in r.json()["errors"][0]["message"]
    assert admin.get(SETTINGS).json()["createRepositoryOnPush"] is True


def test_non_admins_are_refused(srv: RunningServer, admin: httpx.Client) -> None:
    create_user(admin, "dora")
    with srv.client(auth=("dora", PASSWORD)) as dora:
        assert dora.get(SETTINGS).status_code == 403
        r = dora.post(SETTINGS, json={"createRepositoryOnPush": False})
        assert r.status_code == 403 and r.json()["errors"][0]["code"] == "NOT_AUTHORIZED"
        assert dora.get("/api/v0/meta/cluster_status").status_code == 403
    with srv.client() as anonymous:
        assert anonymous.get(SETTINGS).status_code == 401
    assert admin.get(SETTINGS).json()["createRepositoryOnPush"] is True


def test_create_repository_on_push_off_refuses_at_once(
    srv: RunningServer, admin: httpx.Client
) -> None:
    push(admin, "admin/kept", "1")
    assert admin.post(SETTINGS, json={"createRepositoryOnPush": False}).status_code == 202
    # The very next push to a new repository, on whichever HTTP worker: no wait.
    r = admin.post("/v2/admin/brand-new/blobs/uploads/")
    assert r.status_code == 404 and error_code(r) == "NAME_UNKNOWN", r.text
    assert "createRepositoryOnPush" in r.text
    assert admin.get("/api/v0/repositories/admin/brand-new").status_code == 404
    push(admin, "admin/kept", "2")  # an existing repository still takes pushes
    assert admin.post(SETTINGS, json={"createRepositoryOnPush": True}).status_code == 202
    push(admin, "admin/brand-new", "1")


def applied(srv: RunningServer, seconds: float) -> bool:
    """Whether the delivery process has logged applying this webhookTimeout."""
    return any(
        json.loads(line).get("seconds") == seconds
        for line in srv.logs().splitlines()
        if "webhook.timeout.applied" in line and line.startswith("{")
    )


def _first_attempt(admin: httpx.Client, wid: str) -> dict[str, Any] | None:
    r = admin.get(f"/api/v0/webhooks/{wid}/deliveries")
    assert r.status_code == 200, r.text
    for delivery in r.json():
        if delivery["attempts"]:
            return dict(delivery["attempts"][0])
    return None


def test_webhook_timeout_is_applied_by_the_delivery_process(
    srv: RunningServer, admin: httpx.Client
) -> None:
    push(admin, "admin/hooked", "0")
    with Receiver() as rx:
        rx.default("/slow", Reply(200, delay=8))
        r = admin.post(
            "/api/v0/webhooks",
            json={"type": "TAG_PUSH", "key": "admin/hooked", "endpoint": rx.url("/slow")},
        )
        assert r.status_code == 201, r.text
        wid = r.json()["id"]
        assert admin.post(SETTINGS, json={"webhookTimeout": 1}).status_code == 202
        # The delivery process re-reads the setting every few seconds and logs when it applies.
        wait_until(lambda: applied(srv, 1))
        push(admin, "admin/hooked", "1")
        first = wait_until(lambda: _first_attempt(admin, wid))
    assert first["statusCode"] is None and "timeout" in first["error"], first
    assert first["latencyMs"] < 6000, first  # the 15 s default would have waited for the 200


def test_cluster_status_shows_the_worker(srv: RunningServer, admin: httpx.Client) -> None:
    def healthy() -> dict[str, Any] | None:
        r = admin.get("/api/v0/meta/cluster_status")
        assert r.status_code == 200, r.text
        body = dict(r.json())
        return body if "OK" in body["replica_health"].values() else None

    body = wait_until(healthy)
    [(replica, health)] = body["replica_health"].items()
    assert health == "OK" and replica.endswith("-worker")
    assert replica == admin.get(SETTINGS).json()["replicaID"]
    assert body["replica_readonly"] == {replica: False} and replica in body["replica_timestamp"]
    assert body["current_issues"] == []


def test_the_ui_scan_button_follows_scanning_enabled(
    srv: RunningServer, admin: httpx.Client
) -> None:
    push(admin, "admin/uiscan", "1")
    assert admin.post(SETTINGS, json={"scanningEnabled": False}).status_code == 202
    with signed_in(srv, "admin", srv.admin_password) as (client, token):
        answer = client.post("/repositories/admin/uiscan/tags/1/scan", data={"csrf_token": token})
        assert answer.status_code == 303 and "msg=scan-disabled" in answer.headers["location"]
        assert admin.post(SETTINGS, json={"scanningEnabled": True}).status_code == 202
        answer = client.post("/repositories/admin/uiscan/tags/1/scan", data={"csrf_token": token})
        assert answer.status_code == 303 and "scan-disabled" not in answer.headers["location"]
