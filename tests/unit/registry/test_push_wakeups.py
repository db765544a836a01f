"""A /v2 push wakes the event consumers through its units of work alone: a repository created
by the push, a manifest PUT and a tag DELETE wake them (their events commit); an upload start in
an existing repository, a blob upload, a cancelled upload and a refused delete record nothing and
wake nobody."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dockyard.events import bus
from dockyard.events.models import OutboxEvent
from dockyard.repos.models import Upload
from tests.fakes.inprocess import InProcess, inprocess_app

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture
async def host(tmp_path: Path, database_url: str) -> AsyncIterator[InProcess]:
    async with inprocess_app(tmp_path / "data", database_url) as app:
        yield app


@pytest.fixture
async def waker() -> AsyncIterator[asyncio.Event]:
    event = bus.subscribe_wakeups()
    try:
        yield event
    finally:
        bus._listeners.remove(event)


def _digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


async def _blob(host: InProcess, body: bytes) -> str:
    digest = _digest(body)
    r = await host.client.post(f"/v2/admin/app/blobs/uploads/?digest={digest}", content=body)
    assert r.status_code == 201, r.text
    return digest


async def _events(host: InProcess) -> int:
    async with host.services.session() as session:
        return int(await session.scalar(select(func.count()).select_from(OutboxEvent)) or 0)


async def test_only_what_records_events_wakes(host: InProcess, waker: asyncio.Event) -> None:
    r = await host.client.post("/v2/admin/app/blobs/uploads/")
    assert r.status_code == 202 and waker.is_set()  # the push created admin/app
    waker.clear()
    created = await _events(host)
    assert created >= 1

    started = await host.client.post("/v2/admin/app/blobs/uploads/")
    assert started.status_code == 202
    cancelled = await host.client.delete(started.headers["location"])
    assert cancelled.status_code == 204
    config = await _blob(host, b"{}")
    layer = await _blob(host, b"layer bytes")
    assert not waker.is_set() and await _events(host) == created
    async with host.services.session() as session:
        assert await session.scalar(select(func.count()).select_from(Upload)) == 1

    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config,
            "size": 2,
        },
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": 11}
        ],
    }
    put = await host.client.put(
        "/v2/admin/app/manifests/v1",
        content=json.dumps(manifest).encode(),
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert put.status_code == 201 and waker.is_set()
    waker.clear()
    pushed = await _events(host)
    assert pushed > created

    refused = await host.client.delete("/v2/admin/app/manifests/nope")
    assert refused.status_code == 404 and not waker.is_set()
    deleted = await host.client.delete("/v2/admin/app/manifests/v1")
    assert deleted.status_code == 202 and waker.is_set()
    assert await _events(host) == pushed + 1
