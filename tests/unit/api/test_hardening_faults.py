"""Faults in-process: an unhandled exception answers 500 with the request id in header, body and
access log; a full disk answers 507 DISK_FULL (not 500) on every write path, a cancelled upload
frees its file even when the database write fails, and pushes work again once space is back."""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy.exc

from dockyard.logging import JsonFormatter
from dockyard.repos import content
from dockyard.storage import space
from dockyard.storage.base import BlobStore
from tests.fakes.inprocess import InProcess, inprocess_app

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class _Lines(logging.Handler):
    """Formats at emit time, as the real handler does, so the request id is the live one."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def log_lines() -> Iterator[_Lines]:
    handler = _Lines()
    root = logging.getLogger("dockyard")
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield handler
    root.removeHandler(handler)
    root.setLevel(old_level)


@pytest.fixture
async def app(tmp_path: Path, database_url: str) -> AsyncIterator[InProcess]:
    async with inprocess_app(tmp_path / "data", database_url) as running:
        yield running
    space.forget_write_failures()  # per process: the next test's /health starts clean


# -- item 18: the 500 that remains ------------------------------------------------------------


async def test_unhandled_exception_is_500_with_request_id_everywhere(
    app: InProcess, log_lines: _Lines
) -> None:
    async def boom() -> None:
        raise RuntimeError("something nobody handled")

    app.app.add_api_route("/api/v0/test-boom", boom)
    r = await app.client.get("/api/v0/test-boom")

    assert r.status_code == 500
    rid = r.headers.get("x-request-id")
    assert rid
    assert r.json() == {
        "errors": [
            {
                "code": "INTERNAL_ERROR",
                "message": f"An internal error occurred (request id {rid}).",
                "detail": {"requestId": rid},
            }
        ]
    }
    assert "something nobody handled" not in r.text
    access = [line for line in log_lines.lines if line["event"] == "http.request"]
    assert access[-1]["status"] == 500
    assert access[-1]["request_id"] == rid
    failed = [line for line in log_lines.lines if line["event"] == "request.failed"]
    assert failed and failed[-1]["request_id"] == rid
    assert "RuntimeError: something nobody handled" in failed[-1]["exc"]
    # The app is still fine for the next request.
    assert (await app.client.get("/health")).status_code == 200


# -- item 19: a full disk -----------------------------------------------------------------------


class FullDisk:
    """Wraps the real driver; while `full`, every write raises ENOSPC as the kernel would."""

    def __init__(self, inner: BlobStore) -> None:
        self.inner = inner
        self.full = False

    def _check(self) -> None:
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def put(self, data: bytes) -> str:
        self._check()
        return await self.inner.put(data)

    async def upload_start(self, upload_id: str) -> None:
        self._check()
        await self.inner.upload_start(upload_id)

    async def upload_append(
        self, upload_id: str, chunks: AsyncIterator[bytes], offset: int | None = None
    ) -> int:
        if not self.full:
            return await self.inner.upload_append(upload_id, chunks, offset)

        async def some_then_full() -> AsyncIterator[bytes]:
            async for chunk in chunks:
                yield chunk
                raise OSError(errno.ENOSPC, "No space left on device")

        return await self.inner.upload_append(upload_id, some_then_full(), offset)


@pytest.fixture
def disk(app: InProcess) -> FullDisk:
    wrapper = FullDisk(app.services.storage)
    app.services.storage = wrapper
    return wrapper


def _assert_disk_full(r: Any) -> None:
    assert r.status_code == 507, r.text
    assert r.json()["errors"][0]["code"] == "DISK_FULL"
    assert r.json()["errors"][0]["message"] == "no space left on the registry's storage"
    assert r.headers.get("x-request-id")


async def test_disk_full_push_is_507_and_later_writes_too(app: InProcess, disk: FullDisk) -> None:
    c = app.client
    config = b'{"architecture":"amd64","os":"linux"}'
    assert (
        await c.post(
            "/v2/admin/full/blobs/uploads/", params={"digest": digest(config)}, content=config
        )
    ).status_code == 201
    disk.full = True
    layer = b"x" * 100_000
    # Monolithic upload.
    r = await c.post(
        "/v2/admin/full/blobs/uploads/", params={"digest": digest(layer)}, content=layer
    )
    _assert_disk_full(r)
    # Chunked upload: the session opens (no bytes yet), the chunk does not fit.
    disk.full = False
    r = await c.post("/v2/admin/full/blobs/uploads/")
    assert r.status_code == 202
    location = r.headers["location"]
    disk.full = True
    _assert_disk_full(await c.patch(location, content=layer))
    _assert_disk_full(await c.post("/v2/admin/full/blobs/uploads/"))
    # A manifest whose blobs are all there: storing its bytes fails the same way.
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest(config),
                "size": len(config),
            },
            "layers": [],
        }
    ).encode()
    r = await c.put(
        "/v2/admin/full/manifests/v1", content=manifest, headers={"content-type": OCI_MANIFEST}
    )
    _assert_disk_full(r)
    health = await c.get("/health")
    assert health.status_code == 503
    assert "disk" in health.json()["problems"]
    # The half-filled upload can be cancelled, and once there is space again pushes work.
    assert (await c.delete(location)).status_code == 204
    disk.full = False
    r = await c.post(
        "/v2/admin/full/blobs/uploads/", params={"digest": digest(layer)}, content=layer
    )
    assert r.status_code == 201, r.text
    r = await c.put(
        "/v2/admin/full/manifests/v1", content=manifest, headers={"content-type": OCI_MANIFEST}
    )
    assert r.status_code == 201, r.text


async def test_cancel_frees_the_upload_file_when_the_database_write_fails(
    app: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = app.client
    r = await c.post("/v2/admin/full/blobs/uploads/")
    assert r.status_code == 202
    location = r.headers["location"]
    upload_id = r.headers["docker-upload-uuid"]
    assert (await c.patch(location, content=b"y" * 50_000)).status_code == 202
    assert await app.services.storage.upload_size(upload_id) == 50_000

    async def database_full(*_args: Any) -> None:
        orig = sqlite3.OperationalError("database or disk is full")
        orig.sqlite_errorcode = 13
        raise sqlalchemy.exc.OperationalError("DELETE FROM uploads", {}, orig)

    monkeypatch.setattr(content, "delete_upload", database_full)
    r = await c.delete(location)

    _assert_disk_full(r)
    assert await app.services.storage.upload_size(upload_id) is None
