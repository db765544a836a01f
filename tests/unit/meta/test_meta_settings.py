"""Registry settings in process (SQLite, or PostgreSQL with DOCKYARD_TEST_DATABASE_URL): the
checks of a change, the database winning over the configuration and `null` undoing it, the API's
answers (shape, 202, 400 naming the keys, 403), and the readers: a push to a missing repository
refused once createRepositoryOnPush is off, scan on push stopped once scanningEnabled is off, the
cluster status from the replica records."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from dockyard.clock import utcnow
from dockyard.errors import DockyardError, ErrorCode
from dockyard.events import cursors
from dockyard.meta import service as meta
from dockyard.meta.models import RegistrySetting
from dockyard.scanning import replicas
from dockyard.scanning.models import ScanJob
from dockyard.scanning.worker import ScanWorker
from tests.fakes.inprocess import InProcess, inprocess_app

SHOWN = {"dtrHost": "registry.example.com", "replicaID": "abc-worker", "logLevel": "info"}


@pytest.fixture(autouse=True)
def no_settling(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scanner reads events at once (on PostgreSQL it waits for late commits)."""
    monkeypatch.setattr(cursors, "SETTLE", timedelta(0))


@pytest.fixture
async def app(tmp_path: Path, database_url: str) -> AsyncIterator[InProcess]:
    async with inprocess_app(tmp_path / "data", database_url) as running:
        yield running


def refused(body: Any) -> DockyardError:
    with pytest.raises(DockyardError) as caught:
        meta.check_change(body, SHOWN)
    assert caught.value.code is ErrorCode.INVALID_SETTINGS
    return caught.value


# -- the checks of a change (pure) --------------------------------------------------------------


def test_a_partial_change_keeps_only_the_settable_keys_given() -> None:
    assert meta.check_change({"scanningEnabled": False}, SHOWN) == {"scanningEnabled": False}
    assert meta.check_change({"webhookTimeout": 2, "createRepositoryOnPush": None}, SHOWN) == {
        "webhookTimeout": 2,
        "createRepositoryOnPush": None,
    }
    assert meta.check_change({}, SHOWN) == {}


def test_unknown_keys_are_all_named() -> None:
    err = refused({"sso": True, "scanningEnabled": True, "bogus": 1})
    assert err.detail == {"unknown": ["bogus", "sso"]}
    assert "bogus" in err.message and "sso" in err.message


def test_read_only_keys_pass_unchanged_and_are_refused_changed() -> None:
    # A client that posts back what it read (with one setting edited) is accepted.
    echoed = {**SHOWN, "scanningEnabled": False}
    assert meta.check_change(echoed, SHOWN) == {"scanningEnabled": False}
    err = refused({"dtrHost": "elsewhere.example.com"})
    assert err.detail == {"readOnly": ["dtrHost"]}
    # What describes the answer (another node's replicaID, stale sources) is ignored.
    stale = {"replicaID": "other-worker", "sources": {}, "notImplemented": {}, "logLevel": "info"}
    assert meta.check_change(stale, SHOWN) == {}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scanningEnabled": "false"}, "scanningEnabled"),
        ({"createRepositoryOnPush": 0}, "createRepositoryOnPush"),
        ({"scanningSyncOnline": []}, "scanningSyncOnline"),
        ({"webhookTimeout": True}, "webhookTimeout"),
        ({"webhookTimeout": "5"}, "webhookTimeout"),
        ({"webhookTimeout": 0}, "webhookTimeout"),
        ({"webhookTimeout": -1.5}, "webhookTimeout"),
        ({"webhookTimeout": 301}, "webhookTimeout"),
    ],
)
def test_wrong_types_and_values_are_named(body: dict[str, Any], field: str) -> None:
    err = refused(body)
    assert err.detail == {"invalid": [field]}
    assert field in err.message


@pytest.mark.parametrize("body", [[], "x", 3, None])
def test_a_change_must_be_an_object(body: Any) -> None:
    refused(body)


# -- stored values against the configuration ----------------------------------------------------


async def test_the_database_wins_once_set_and_null_goes_back(app: InProcess) -> None:
    settings = app.services.settings
    async with app.services.session() as session:
        before = await meta.effective(session, settings)
        assert before.values == {
            "createRepositoryOnPush": True,
            "scanningEnabled": True,
            "scanningSyncOnline": False,
            "webhookTimeout": settings.webhook_total_timeout,
        }
        assert before.stored == frozenset()
        await meta.change(session, {"webhookTimeout": 2.5, "scanningEnabled": False}, "admin")
        await session.commit()
    async with app.services.session() as session:
        # Changed again: the row is updated in place (an upsert), not duplicated.
        await meta.change(session, {"webhookTimeout": 3}, "admin")
        await session.commit()
    async with app.services.session() as session:
        assert await meta.webhook_timeout(session, settings) == 3.0
        assert await meta.scanning_enabled(session, settings) is False
        now = await meta.effective(session, settings)
        assert now.sources()["webhookTimeout"] == "database"
        assert now.sources()["createRepositoryOnPush"] == "config"
        assert await session.scalar(select(func.count()).select_from(RegistrySetting)) == 2
        await meta.change(session, {"webhookTimeout": None}, "admin")
        await session.commit()
    async with app.services.session() as session:
        assert await meta.webhook_timeout(session, settings) == settings.webhook_total_timeout


async def test_a_row_with_a_bad_value_is_not_trusted(app: InProcess) -> None:
    async with app.services.session() as session:
        session.add(RegistrySetting(key="scanningEnabled", value="no", updated_by="hand"))
        await session.commit()
    async with app.services.session() as session:
        assert await meta.scanning_enabled(session, app.services.settings) is True
        now = await meta.effective(session, app.services.settings)
        assert "scanningEnabled" not in now.stored


# -- the API ------------------------------------------------------------------------------------


async def test_get_and_post_settings(app: InProcess) -> None:
    r = await app.client.get("/api/v0/meta/settings")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["createRepositoryOnPush"] is True and body["scanningEnabled"] is True
    assert body["scanningSyncOnline"] is False
    assert body["dtrHost"] == app.services.settings.registry_host
    assert body["replicaID"].endswith("-worker")
    assert "scanningSyncOnline" in body["notImplemented"]

    r = await app.client.post("/api/v0/meta/settings", json={"scanningSyncOnline": True})
    assert r.status_code == 202, r.text
    assert r.json()["scanningSyncOnline"] is True
    assert r.json()["sources"]["scanningSyncOnline"] == "database"
    # The GET-edit-POST round trip of a script works.
    again = {**r.json(), "webhookTimeout": 4}
    r = await app.client.post("/api/v0/meta/settings", json=again)
    assert r.status_code == 202, r.text
    assert r.json()["webhookTimeout"] == 4 and r.json()["scanningSyncOnline"] is True

    r = await app.client.post("/api/v0/meta/settings", json={"readOnlyRegistry": True, "x": 1})
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == "INVALID_SETTINGS"
    assert r.json()["errors"][0]["detail"] == {"unknown": ["readOnlyRegistry", "x"]}
    r = await app.client.post("/api/v0/meta/settings", content=b"{not json")
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "INVALID_JSON"


async def test_only_admins(app: InProcess) -> None:
    r = await app.client.post(
        "/enzi/v0/accounts", json={"name": "carol", "password": "password-123", "isActive": True}
    )
    assert r.status_code == 201, r.text
    carol = ("carol", "password-123")
    for method, path in (
        ("GET", "/api/v0/meta/settings"),
        ("POST", "/api/v0/meta/settings"),
        ("GET", "/api/v0/meta/cluster_status"),
    ):
        r = await app.client.request(method, path, auth=carol, json={"scanningEnabled": False})
        assert r.status_code == 403, (path, r.text)
        r = await app.client.request(method, path, auth=None, json={})
        assert r.status_code == 401, (path, r.text)
    async with app.services.session() as session:
        assert await meta.scanning_enabled(session, app.services.settings) is True


# -- the readers --------------------------------------------------------------------------------


async def _upload(app: InProcess, repo: str, data: bytes) -> tuple[int, str, str]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    r = await app.client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data)
    return r.status_code, digest, r.text


async def push(app: InProcess, repo: str, tag: str) -> int:
    """A one-layer image; the status of the first refused request, else the manifest's."""
    config = json.dumps({"os": "linux", "architecture": "amd64", "rootfs": {}}).encode()
    blobs = []
    for data in (config, f"layer {repo}:{tag}".encode()):
        status, digest, _ = await _upload(app, repo, data)
        if status != 201:
            return status
        blobs.append((digest, len(data)))
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": blobs[0][0],
            "size": blobs[0][1],
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": blobs[1][0],
                "size": blobs[1][1],
            }
        ],
    }
    r = await app.client.put(
        f"/v2/{repo}/manifests/{tag}",
        content=json.dumps(manifest).encode(),
        headers={"content-type": manifest["mediaType"]},
    )
    return r.status_code


async def test_create_repository_on_push_off_refuses_a_new_repository(app: InProcess) -> None:
    assert await push(app, "admin/first", "1") == 201
    r = await app.client.post("/api/v0/meta/settings", json={"createRepositoryOnPush": False})
    assert r.status_code == 202, r.text
    status, _, text = await _upload(app, "admin/second", b"blob")
    assert status == 404 and "NAME_UNKNOWN" in text and "createRepositoryOnPush" in text
    # Existing repositories still take pushes.
    assert await push(app, "admin/first", "2") == 201
    r = await app.client.get("/api/v0/repositories/admin/second")
    assert r.status_code == 404
    await app.client.post("/api/v0/meta/settings", json={"createRepositoryOnPush": None})
    assert await push(app, "admin/second", "1") == 201


async def _scan_jobs(app: InProcess) -> int:
    async with app.services.session() as session:
        return int(await session.scalar(select(func.count()).select_from(ScanJob)) or 0)


async def test_scanning_off_stops_scan_on_push(app: InProcess) -> None:
    worker = ScanWorker(app.services)
    r = await app.client.post("/api/v0/meta/settings", json={"scanningEnabled": False})
    assert r.status_code == 202, r.text
    assert await push(app, "admin/app", "off") == 201
    await worker.step()
    assert await _scan_jobs(app) == 0
    r = await app.client.post("/api/v0/imagescan/scan/admin/app/off/linux/amd64")
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "SCANNING_NOT_ENABLED"

    r = await app.client.post("/api/v0/meta/settings", json={"scanningEnabled": True})
    assert r.status_code == 202, r.text
    assert await push(app, "admin/app", "on") == 201
    await worker.step()
    assert await _scan_jobs(app) >= 1


async def test_cluster_status_from_the_replica_records(app: InProcess) -> None:
    r = await app.client.get("/api/v0/meta/cluster_status")
    assert r.status_code == 200, r.text
    empty = r.json()
    assert empty["replica_health"] == {} and empty["current_issues"][0]["critical"] is True

    now = utcnow()
    async with app.services.session() as session:
        await replicas.beat(session, "node1-worker", 3, now, now)
        await replicas.beat(session, "node2-worker", None, None, now - timedelta(minutes=10))
        await session.commit()
    body = (await app.client.get("/api/v0/meta/cluster_status")).json()
    assert body["replica_health"]["node1-worker"] == "OK"
    assert body["replica_health"]["node2-worker"].startswith("no heartbeat since")
    assert body["replica_readonly"] == {"node1-worker": False, "node2-worker": False}
    assert set(body["replica_timestamp"]) == {"node1-worker", "node2-worker"}
    assert body["replicas"]["node1-worker"]["node"] == "node1"
    assert body["replicas"]["node1-worker"]["vulnDBVersion"] == 3
    assert [i["critical"] for i in body["current_issues"]] == [False]
    assert "node2-worker" in body["current_issues"][0]["description"]
