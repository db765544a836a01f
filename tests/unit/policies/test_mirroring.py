"""Mirroring in process with a fake remote: the policies API (MSR's bodies, 400 naming the bad
rule, credentials stored encrypted and never returned, the generic list and delete), push
mirroring on TAG_PUSH through its own cursor (only blobs the remote lacks, then the manifest;
PUSH_MIRRORING once; a failure retried with lastStatus saying why), and poll mirroring from the
fake remote (blobs verified into storage, the tag written with TAG_PUSH and POLL_MIRRORING)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from dockyard.events import cursors
from dockyard.events.models import OutboxEvent
from dockyard.policies import mirror_runs
from dockyard.policies.mirror_models import MirroringPolicy, MirrorJob
from dockyard.policies.mirror_worker import MirrorWorker
from dockyard.policies.ociclient import RemoteError
from tests.fakes.inprocess import InProcess, inprocess_app
from tests.fakes.oci import OCI_MANIFEST, BuiltImage, build_image, make_layer
from tests.unit.policies.test_promotion import push

BASE = "/api/v0/repositories/admin/app"
REMOTE = {
    "remoteHost": "https://dr.example.com",
    "remoteRepository": "mirror/app",
    "remoteCA": "",
    "skipTLSVerification": False,
    "enabled": True,
    "username": "robot",
    "password": "pa55-secret",
    "authToken": "",
}
PUSH = {
    **REMOTE,
    "rules": [{"field": "tag", "operator": "sw", "values": ["v"]}],
    "tagTemplate": "%n",
}


class FakeRemote:
    """A remote registry in memory: blobs, manifests by reference, and what was asked of it."""

    hostport = "dr.example.com:443"

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, tuple[bytes, str]] = {}
        self.pushed: list[str] = []
        self.down = False

    async def __aenter__(self) -> FakeRemote:
        if self.down:
            raise RemoteError("cannot connect to dr.example.com: connection refused")
        return self

    async def __aexit__(self, *_exc: object) -> None:
        return None

    async def blob_exists(self, repo: str, digest: str) -> bool:
        return digest in self.blobs

    async def mount(self, repo: str, digest: str, from_repo: str) -> bool:
        return False

    async def push_blob(self, repo: str, digest: str, size: int, chunks: Any) -> None:
        data = b"".join([c async for c in chunks])
        assert len(data) == size and "sha256:" + hashlib.sha256(data).hexdigest() == digest
        self.blobs[digest] = data
        self.pushed.append(digest)

    async def put_manifest(self, repo: str, ref: str, body: bytes, media_type: str) -> str:
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        self.manifests[ref] = self.manifests[digest] = (body, media_type)
        self.pushed.append(f"manifest:{ref}")
        return digest

    async def get_manifest(self, repo: str, ref: str) -> tuple[bytes, str, str]:
        body, media_type = self.manifests[ref]
        return body, media_type, "sha256:" + hashlib.sha256(body).hexdigest()

    async def list_tags(self, repo: str) -> list[str]:
        return sorted(k for k in self.manifests if not k.startswith("sha256:"))

    async def open_blob(self, repo: str, digest: str) -> AsyncIterator[bytes]:
        yield self.blobs[digest]


@pytest.fixture(autouse=True)
def no_settling(monkeypatch: pytest.MonkeyPatch) -> None:
    """The mirroring consumer reads events at once (on PostgreSQL it waits a few seconds for
    late commits)."""
    monkeypatch.setattr(cursors, "SETTLE", timedelta(0))


@pytest.fixture
async def app(tmp_path: Path, database_url: str) -> AsyncIterator[InProcess]:
    async with inprocess_app(tmp_path / "data", database_url) as running:
        r = await running.client.post("/api/v0/repositories/admin", json={"name": "app"})
        assert r.status_code == 201, r.text
        yield running


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeRemote:
    remote = FakeRemote()
    monkeypatch.setattr(mirror_runs.Remote, "open", lambda self, vault, blocked: remote)
    return remote


def image(tmp_path: Path, name: str) -> BuiltImage:
    return build_image(tmp_path / name, [make_layer({"f.txt": name.encode()})])


async def events(app: InProcess, type_: str) -> list[dict[str, Any]]:
    async with app.services.session() as session:
        rows = await session.scalars(select(OutboxEvent).where(OutboxEvent.type == type_))
        return [row.payload for row in rows]


async def drain(worker: MirrorWorker) -> None:
    for _ in range(20):
        if not await worker.step():
            return


async def test_policies_api_validates_and_never_returns_credentials(app: InProcess) -> None:
    c = app.client
    bad = dict(PUSH, rules=[{"field": "tag", "operator": "sw", "values": ["v"]}, {"field": "x"}])
    r = await c.post(f"{BASE}/pushMirroringPolicies", json=bad)
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "INVALID_PUSH_MIRRORING_POLICY"
    assert "rule 2" in r.text
    r = await c.post(f"{BASE}/pushMirroringPolicies", json=dict(PUSH, remoteHost="ftp://x"))
    assert r.status_code == 400 and "remoteHost" in r.text
    r = await c.post(f"{BASE}/pollMirroringPolicies", content=b"{not json")
    assert r.status_code == 400
    r = await c.post(f"{BASE}/pushMirroringPolicies", json=PUSH)
    assert r.status_code == 201, r.text
    push_id = r.json()["id"]
    assert "pa55-secret" not in r.text and r.json()["username"] == "robot"
    r = await c.put(f"{BASE}/pushMirroringPolicies/{push_id}", json=dict(PUSH, password=""))
    assert r.status_code == 200, r.text
    async with app.services.session() as session:
        policy = await session.get(MirroringPolicy, push_id)
        assert policy is not None and policy.secret_enc and "pa55" not in policy.secret_enc
    r = await c.post(f"{BASE}/pollMirroringPolicies", json=REMOTE)
    assert r.status_code == 201 and "rules" not in r.json()
    poll_id = r.json()["id"]
    listed = (await c.get(f"{BASE}/mirroringPolicies")).json()
    assert {(p["id"], p["mirroringType"]) for p in listed} == {(push_id, "push"), (poll_id, "poll")}
    assert "pa55-secret" not in json.dumps(listed)
    r = await c.get(f"{BASE}/pollMirroringPolicies/{push_id}")
    assert r.status_code == 404  # a push policy is not a poll policy
    r = await c.request("DELETE", f"{BASE}/mirroringPolicies", json=[{"id": poll_id}])
    assert r.status_code == 204
    assert [p["id"] for p in (await c.get(f"{BASE}/mirroringPolicies")).json()] == [push_id]
    r = await c.post("/api/v0/jobs", json={"action": "gc"})
    assert r.status_code == 400


async def test_push_mirroring_sends_only_missing_blobs_and_fires_once(
    app: InProcess, fake: FakeRemote, tmp_path: Path
) -> None:
    worker = MirrorWorker(app.services)
    r = await app.client.post(f"{BASE}/pushMirroringPolicies", json=PUSH)
    assert r.status_code == 201
    pid = r.json()["id"]
    img = image(tmp_path, "one")
    doc = json.loads(img.manifest_bytes)
    fake.blobs[doc["layers"][0]["digest"]] = b"already there"
    fake.down = True
    await push(app, "admin/app", "v1", img)
    await push(app, "admin/app", "dev", image(tmp_path, "dev"))  # the rules leave it out
    await drain(worker)
    got = (await app.client.get(f"{BASE}/pushMirroringPolicies/{pid}")).json()
    assert got["lastStatus"]["code"] == 502 and "connection refused" in got["lastStatus"]["detail"]
    assert await events(app, "PUSH_MIRRORING") == []

    fake.down = False
    async with app.services.session() as session:  # the retry is due now
        await session.execute(update(MirrorJob).values(next_attempt_at=MirrorJob.created_at))
        await session.commit()
    await drain(worker)
    assert fake.pushed == [doc["config"]["digest"], "manifest:v1"]
    assert fake.manifests["v1"] == (img.manifest_bytes, OCI_MANIFEST)
    [event] = await events(app, "PUSH_MIRRORING")
    assert event["contents"]["mirroring"]["remoteTag"] == "v1"
    got = (await app.client.get(f"{BASE}/pushMirroringPolicies/{pid}")).json()
    assert got["lastStatus"]["code"] == 200 and got["lastMirroredAt"]
    await drain(worker)
    assert len(await events(app, "PUSH_MIRRORING")) == 1


async def test_poll_mirroring_pulls_new_and_moved_tags(
    app: InProcess, fake: FakeRemote, tmp_path: Path
) -> None:
    worker = MirrorWorker(app.services)
    for tag, name in (("1.0", "a"), ("2.0", "b")):
        img = image(tmp_path, name)
        blobs = img.layout / "blobs" / "sha256"
        for f in blobs.iterdir():
            fake.blobs["sha256:" + f.name] = f.read_bytes()
        await fake.put_manifest("up/app", tag, img.manifest_bytes, OCI_MANIFEST)
    r = await app.client.post(f"{BASE}/pollMirroringPolicies", json=REMOTE)
    assert r.status_code == 201
    await drain(worker)
    tags = {t["name"]: t["digest"] for t in (await app.client.get(f"{BASE}/tags")).json()}
    assert tags == {t: (await fake.get_manifest("", t))[2] for t in ("1.0", "2.0")}
    assert sorted(e["contents"]["tag"] for e in await events(app, "POLL_MIRRORING")) == [
        "1.0",
        "2.0",
    ]
    assert len(await events(app, "TAG_PUSH")) == 2

    moved = image(tmp_path, "c")
    for f in (moved.layout / "blobs" / "sha256").iterdir():
        fake.blobs["sha256:" + f.name] = f.read_bytes()
    await fake.put_manifest("up/app", "1.0", moved.manifest_bytes, OCI_MANIFEST)
    del fake.manifests["2.0"]  # deleted remotely: kept here
    assert (
        await app.client.post("/api/v0/jobs", json={"action": "poll_mirror"})
    ).status_code == 202
    await drain(worker)
    tags = {t["name"]: t["digest"] for t in (await app.client.get(f"{BASE}/tags")).json()}
    assert tags["1.0"] == moved.manifest_digest and "2.0" in tags
    assert len(await events(app, "POLL_MIRRORING")) == 3
