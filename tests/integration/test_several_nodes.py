"""Several nodes end to end: two API replicas (`serve --role api`, each with its own data folder)
and a worker (`serve --role worker`) on one PostgreSQL database and one S3 bucket (moto), behind
one external URL (replica A's address stands for the load balancer's).

A skopeo push through A pulls byte-identical from B (whose token challenge sends skopeo to A: a
token from A is accepted by B); a chunked upload whose PATCHes alternate between A and B; webhook
deliveries from the worker to a real receiver, with the worker SIGKILLed mid-delivery and another
started: every event arrives at least once, and a worker stopped with SIGTERM gives its claimed
deliveries back instead of leaving them to their leases."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes import skopeo
from tests.fakes.cluster import (
    WorkerProcess,
    api_replica,
    create_pg_database,
    drop_pg_database,
    fetch,
    worker_process,
)
from tests.fakes.oci import build_image, make_layer
from tests.fakes.receiver import Receiver, Reply
from tests.fakes.s3 import S3Server, start_s3
from tests.fakes.server import RunningServer
from tests.integration.registry_helpers import push

LEASE = 3  # seconds: a killed worker's deliveries are claimed again soon after


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[dict[str, object]]:
    database = create_pg_database()
    s3: S3Server = start_s3(tmp_path)
    started: list[RunningServer | WorkerProcess] = []
    env = {
        **s3.settings_env(s3.new_bucket()),
        "DOCKYARD_WEBHOOK_BLOCKED_NETWORKS": "127.0.0.2/32",
        "DOCKYARD_WEBHOOK_LEASE_SECONDS": str(LEASE),
    }
    a = api_replica(tmp_path / "a", database, env)
    env["DOCKYARD_EXTERNAL_URL"] = a.url
    a.env["DOCKYARD_EXTERNAL_URL"] = a.url
    b = api_replica(tmp_path / "b", database, env)

    def worker(name: str) -> WorkerProcess:
        proc = worker_process(tmp_path / name, database, env)
        started.append(proc)
        proc.start()
        return proc

    try:
        for srv in (a, b):
            started.append(srv)
            srv.start()  # one after the other: the first migrates
        yield {"a": a, "b": b, "worker": worker, "database": database}
    finally:
        for proc in started:
            proc.kill()
        s3.stop()
        drop_pg_database(database)


def test_two_api_replicas_and_a_worker(cluster: dict[str, object], tmp_path: Path) -> None:
    a, b = cluster["a"], cluster["b"]
    assert isinstance(a, RunningServer) and isinstance(b, RunningServer)
    with Receiver() as rx:
        with a.client(auth=a.admin_auth) as admin:
            sub = admin.post(
                "/api/v0/webhooks", json={"type": "TAG_PUSH", "endpoint": rx.url("/hook")}
            )
            assert sub.status_code == 201, sub.text
        first_worker = cluster["worker"]("w1")  # type: ignore[operator]

        # skopeo pushes through A and pulls from B, byte-identical.
        image = build_image(
            tmp_path / "src",
            layers=[make_layer({"a.txt": b"alpha\n"}), make_layer({"b.bin": bytes(300_000)})],
        )
        skopeo.push(image.ref(), a.host, "admin/nodes:v1", a.admin_auth)
        out = tmp_path / "out"
        skopeo.pull(b.host, "admin/nodes:v1", f"oci:{out}:v1", b.admin_auth)
        for digest in [image.manifest_digest, image.config_digest, *image.layer_digests]:
            name = digest.split(":")[1]
            assert (out / "blobs/sha256" / name).read_bytes() == (
                image.layout / "blobs/sha256" / name
            ).read_bytes()

        _chunked_upload_across_replicas(a, b)
        _token_from_a_works_on_b(a, b)

        # The receiver holds the next deliveries; the worker is killed while it sends them.
        rx.default("/hook", Reply(delay=30))
        pushed = 5
        for n in range(pushed):
            with (a if n % 2 else b).client(auth=a.admin_auth) as client:
                push(client, "admin/nodes", f"t{n}", layer=f"layer {n}".encode())
        held = rx.wait_for(2, "/hook", timeout=60)
        first_worker.kill()  # type: ignore[attr-defined]
        in_flight = {r.headers["webhook-id"] for r in held if r.json["contents"]["tag"] != "v1"}
        assert in_flight, "the worker was killed with no delivery in flight"
        rx.default("/hook", Reply(200))
        second_worker = cluster["worker"]("w2")  # type: ignore[operator]
        expected = pushed + 1  # the skopeo push's tag, then the five
        got = _distinct_events(rx, expected)
        tags = {e["contents"]["tag"] for e in got.values()}
        assert tags == {"v1", *(f"t{n}" for n in range(pushed))}
        # What the killed worker was sending is sent again by the new one, once its lease ends.
        for _ in range(600):
            ids = [r.headers["webhook-id"] for r in rx.received("/hook")]
            if all(ids.count(wid) >= 2 for wid in in_flight):
                break
            rx.wait_for(len(ids) + 1, "/hook", timeout=60)
        assert all(ids.count(wid) >= 2 for wid in in_flight)
        # ...and never twice within one lease: the second send waited for the first claim to end.
        # (The first claim began a moment before its request arrived: one second of slack.)
        for wid in in_flight:
            sent = sorted(r.at for r in rx.received("/hook") if r.headers["webhook-id"] == wid)
            assert all(b - a >= LEASE - 1 for a, b in itertools.pairwise(sent)), sent

        # A worker stopped cleanly (SIGTERM) gives back what it was sending at once.
        rx.default("/hook", Reply(delay=30))
        before = len(rx.received("/hook"))
        with a.client(auth=a.admin_auth) as client:
            push(client, "admin/nodes", "last", layer=b"the last layer")
        rx.wait_for(before + 1, "/hook", timeout=60)
        database = str(cluster["database"])
        assert _leased(database) >= 1
        second_worker.stop()
        assert second_worker.proc.returncode == 0
        assert _leased(database) == 0


def _leased(database: str) -> int:
    rows = asyncio.run(
        fetch(
            database,
            "SELECT count(*) AS n FROM webhook_deliveries "
            "WHERE status = 'pending' AND lease_token IS NOT NULL",
        )
    )
    return int(rows[0]["n"])


def _distinct_events(rx: Receiver, count: int) -> dict[str, dict[str, object]]:
    for _ in range(600):
        events = {r.headers["webhook-id"]: r.json for r in rx.received("/hook")}
        if len(events) >= count:
            return events
        rx.wait_for(len(rx.received("/hook")) + 1, "/hook", timeout=60)
    raise AssertionError(f"{len(events)} distinct events arrived, not {count}")


def _chunked_upload_across_replicas(a: RunningServer, b: RunningServer) -> None:
    data = hashlib.sha256(b"seed").digest() * 40_000  # 1.28 MB in three chunks
    chunks = [data[:400_000], data[400_000:900_000], data[900_000:]]
    clients = [a.client(auth=a.admin_auth), b.client(auth=b.admin_auth)]
    try:
        started = clients[0].post("/v2/admin/nodes/blobs/uploads/")
        assert started.status_code == 202, started.text
        location = started.headers["Location"]
        offset = 0
        for n, chunk in enumerate(chunks):
            patched = clients[n % 2].patch(
                location,
                content=chunk,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                },
            )
            assert patched.status_code == 202, patched.text
            location = patched.headers["Location"]
            offset += len(chunk)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        done = clients[1].put(location, params={"digest": digest})
        assert done.status_code == 201, done.text
        pulled = clients[1].get(f"/v2/admin/nodes/blobs/{digest}", follow_redirects=True)
        assert pulled.status_code == 200 and pulled.content == data
    finally:
        for client in clients:
            client.close()


def _token_from_a_works_on_b(a: RunningServer, b: RunningServer) -> None:
    issued = httpx.get(
        f"{a.url}/auth/token",
        params={"service": a.host, "scope": "repository:admin/nodes:pull"},
        auth=a.admin_auth,
    )
    assert issued.status_code == 200, issued.text
    token = issued.json()["token"]
    answer = httpx.get(
        f"{b.url}/v2/admin/nodes/manifests/v1",
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.oci.image.manifest.v1+json",
        },
    )
    assert answer.status_code == 200, answer.text
    # A session cookie signed by A is good on B too.
    with httpx.Client(base_url=a.url) as browser:
        login = browser.get("/login")
        csrf = login.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        browser.post(
            "/login", data={"username": "admin", "password": a.admin_password, "csrf_token": csrf}
        )
        cookies = dict(browser.cookies)
    page = httpx.get(f"{b.url}/admin/replicas", cookies=cookies)
    assert page.status_code == 200, page.text
    assert page.text.count("<tr>") >= 3  # A, B and the worker (and a header row)
