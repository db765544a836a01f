"""A chunked upload's POST and its PUT without a body each take one database session (their
read, their rows and the commit together), where they took a read session and a write one:
a push pays that per layer. The answers and the upload's rows stay what they were."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from dockyard.repos.models import Blob, RepositoryBlob, Upload
from tests.fakes.inprocess import InProcess, inprocess_app


@pytest.fixture
async def host(tmp_path: Path, database_url: str) -> AsyncIterator[InProcess]:
    async with inprocess_app(tmp_path / "data", database_url) as app:
        yield app


class _Counting:
    """Counts the sessions the registry's session factory makes."""

    def __init__(self, make: Any) -> None:
        self.make = make
        self.made = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.made += 1
        return self.make(*args, **kwargs)


async def _rows(host: InProcess, model: Any) -> int:
    async with host.services.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_chunked_post_and_a_bodyless_put_take_one_session_each(
    host: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = b"a small layer"
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    # The repository exists and the caller's credential is settled before counting.
    warm = await host.client.post("/v2/admin/app/blobs/uploads/")
    assert warm.status_code == 202
    counting = _Counting(host.services.sessionmaker)
    monkeypatch.setattr(host.services, "sessionmaker", counting)

    started = await host.client.post("/v2/admin/app/blobs/uploads/")
    assert started.status_code == 202 and started.headers["range"] == "0-0"
    post_sessions, counting.made = counting.made, 0
    location = started.headers["location"]
    # The measure: a status GET reads in one session (plus what the credential check takes).
    assert (await host.client.get(location)).status_code == 204
    one, counting.made = counting.made, 0
    assert post_sessions == one
    patched = await host.client.patch(location, content=body)
    assert patched.status_code == 202
    counting.made = 0
    done = await host.client.put(f"{location}?digest={digest}")
    assert done.status_code == 201, done.text
    assert done.headers["docker-content-digest"] == digest
    assert counting.made == one

    monkeypatch.undo()
    assert await _rows(host, Upload) == 1  # the warm-up's session only
    assert await _rows(host, RepositoryBlob) == 1
    got = await host.client.get(f"/v2/admin/app/blobs/{digest}")
    assert got.status_code == 200 and got.content == body


async def test_a_bodyless_put_with_a_wrong_digest_keeps_the_upload(host: InProcess) -> None:
    started = await host.client.post("/v2/admin/app/blobs/uploads/")
    location = started.headers["location"]
    assert (await host.client.patch(location, content=b"bytes")).status_code == 202
    wrong = "sha256:" + hashlib.sha256(b"other").hexdigest()
    refused = await host.client.put(f"{location}?digest={wrong}")
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["code"] == "DIGEST_INVALID"
    missing = await host.client.put(location)
    assert missing.status_code == 400
    status = await host.client.get(location)
    assert status.status_code == 204 and status.headers["range"] == "0-4"
    assert await _rows(host, RepositoryBlob) == 0
    right = "sha256:" + hashlib.sha256(b"bytes").hexdigest()
    assert (await host.client.put(f"{location}?digest={right}")).status_code == 201
    assert await _rows(host, Upload) == 0


async def test_a_blob_published_again_and_elsewhere_links_once_per_repository(
    host: InProcess,
) -> None:
    body = b"the same layer"
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    for repository in ("app", "app", "other"):
        started = await host.client.post(f"/v2/admin/{repository}/blobs/uploads/")
        location = started.headers["location"]
        assert (await host.client.patch(location, content=body)).status_code == 202
        done = await host.client.put(f"{location}?digest={digest}")
        assert done.status_code == 201, done.text
    assert await _rows(host, Blob) == 1
    assert await _rows(host, RepositoryBlob) == 2
    assert await _rows(host, Upload) == 0
