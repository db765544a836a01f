"""Uploads outlive the server: resume after a restart, and a SIGKILL in the middle of an upload
leaves nothing half-written visible. Both tests crash and restart the module's server."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.fakes.server import RunningServer
from tests.integration.registry_helpers import digest, push


def blob_files(data_dir: Path) -> set[str]:
    root = data_dir / "storage" / "blobs"
    return {p.name for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def test_resume_upload_after_restart(module_server: RunningServer) -> None:
    srv = module_server
    data = os.urandom(2_500_000)
    with srv.client(auth=srv.admin_auth) as c:
        location = c.post("/v2/admin/resume/blobs/uploads/").headers["Location"]
        r = c.patch(location, content=data[:1_000_000], headers={"Content-Range": "0-999999"})
        assert r.status_code == 202
    srv.kill()  # a crash, the harshest restart
    srv.start()
    with srv.client(auth=srv.admin_auth) as c:
        r = c.get(location)
        assert r.status_code == 204 and r.headers["Range"] == "0-999999"
        r = c.patch(
            location, content=data[1_000_000:], headers={"Content-Range": "1000000-2499999"}
        )
        assert r.status_code == 202
        r = c.put(location, params={"digest": digest(data)})
        assert r.status_code == 201, r.text
        assert c.get(f"/v2/admin/resume/blobs/{digest(data)}").content == data


def test_sigkill_mid_upload_leaves_nothing_visible(module_server: RunningServer) -> None:
    srv = module_server
    data = os.urandom(8 * 1024 * 1024)
    with srv.client(auth=srv.admin_auth) as c:
        push(c, "admin/crash", "base")
        location = c.post("/v2/admin/crash/blobs/uploads/").headers["Location"]
    before = blob_files(srv.data_dir)
    sent = threading.Event()
    release = threading.Event()

    def body() -> Iterator[bytes]:
        for i in range(0, 4 * 1024 * 1024, 256 * 1024):
            yield data[i : i + 256 * 1024]
        sent.set()
        release.wait(30)  # hold the request open until the server is gone
        yield data[4 * 1024 * 1024 :]

    def client_thread() -> None:
        try:
            with httpx.Client(base_url=srv.url, auth=srv.admin_auth, timeout=30) as c:
                c.put(location, params={"digest": digest(data)}, content=body())
        except httpx.HTTPError:
            pass

    worker = threading.Thread(target=client_thread)
    worker.start()
    assert sent.wait(30)
    deadline = time.monotonic() + 10
    upload_file = next((srv.data_dir / "storage" / "uploads").glob("*/data"))
    while upload_file.stat().st_size < 3 * 1024 * 1024 and time.monotonic() < deadline:
        time.sleep(0.05)
    srv.kill()
    release.set()
    worker.join(30)
    srv.start()
    with srv.client(auth=srv.admin_auth) as c:
        assert c.head(f"/v2/admin/crash/blobs/{digest(data)}").status_code == 404
        assert blob_files(srv.data_dir) == before
        assert c.get("/v2/admin/crash/tags/list").json()["tags"] == ["base"]
        # The upload is still resumable from what reached the disk.
        r = c.get(location)
        assert r.status_code == 204
        received = int(r.headers["Range"].split("-")[1]) + 1
        assert 0 < received <= len(data)
        r = c.patch(
            location,
            content=data[received:],
            headers={"Content-Range": f"{received}-{len(data) - 1}"},
        )
        assert r.status_code == 202
        r = c.put(location, params={"digest": digest(data)})
        assert r.status_code == 201, r.text
        assert c.get(f"/v2/admin/crash/blobs/{digest(data)}").content == data
