"""Chunked uploads read their repository and session with one plain query (registry/preload.py)
and blob HEAD/GET skip the router (registry/fastpath.py): the answers stay the protocol's."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.inprocess import InProcess, inprocess_app


@pytest.fixture
async def host(tmp_path: Path, database_url: str) -> AsyncIterator[InProcess]:
    async with inprocess_app(tmp_path / "data", database_url) as app:
        yield app


def _code(answer: object) -> str:
    return str(answer.json()["errors"][0]["code"])  # type: ignore[attr-defined]


async def test_chunked_upload_status_and_blob_reads(host: InProcess) -> None:
    body = b"first chunk|second chunk"
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    started = await host.client.post("/v2/admin/app/blobs/uploads/")
    assert started.status_code == 202, started.text
    location = started.headers["location"]
    first = await host.client.patch(location, content=body[:12], headers={"Content-Range": "0-11"})
    assert first.status_code == 202 and first.headers["range"] == "0-11"
    # A chunk that does not start where the upload ends: 416 with the current range.
    wrong = await host.client.patch(location, content=b"x", headers={"Content-Range": "5-5"})
    assert wrong.status_code == 416 and wrong.headers["range"] == "0-11"
    status = await host.client.get(location)
    assert status.status_code == 204 and status.headers["range"] == "0-11"
    done = await host.client.put(f"{location}?digest={digest}", content=body[12:])
    assert done.status_code == 201, done.text
    # The session is gone once the blob is published.
    gone = await host.client.get(location)
    assert gone.status_code == 404 and _code(gone) == "BLOB_UPLOAD_UNKNOWN"

    head = await host.client.head(f"/v2/admin/app/blobs/{digest}")
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(body))
    assert head.headers["docker-distribution-api-version"] == "registry/2.0"
    got = await host.client.get(f"/v2/admin/app/blobs/{digest}")
    assert got.status_code == 200 and got.content == body


async def test_an_upload_belongs_to_its_repository(host: InProcess) -> None:
    assert (await host.client.post("/v2/admin/other/blobs/uploads/")).status_code == 202
    started = await host.client.post("/v2/admin/app/blobs/uploads/")
    upload_id = started.headers["docker-upload-uuid"]
    # The same session under another repository, and a made-up one, are unknown there.
    elsewhere = await host.client.patch(f"/v2/admin/other/blobs/uploads/{upload_id}", content=b"x")
    assert elsewhere.status_code == 404 and _code(elsewhere) == "BLOB_UPLOAD_UNKNOWN"
    made_up = await host.client.get("/v2/admin/app/blobs/uploads/not-a-uuid")
    assert made_up.status_code == 404 and _code(made_up) == "BLOB_UPLOAD_UNKNOWN"
    # A repository that does not exist is NAME_UNKNOWN, before the upload is looked at.
    missing = await host.client.get(f"/v2/admin/nowhere/blobs/uploads/{upload_id}")
    assert missing.status_code == 404 and _code(missing) == "NAME_UNKNOWN"


async def test_blob_reads_answer_errors_as_the_route_does(host: InProcess) -> None:
    assert (await host.client.post("/v2/admin/app/blobs/uploads/")).status_code == 202
    unknown = "sha256:" + "0" * 64
    missing = await host.client.get(f"/v2/admin/app/blobs/{unknown}")
    assert missing.status_code == 404 and _code(missing) == "BLOB_UNKNOWN"
    assert missing.headers["docker-distribution-api-version"] == "registry/2.0"
    bad = await host.client.get("/v2/admin/app/blobs/sha256:nothex")
    assert bad.status_code == 400 and _code(bad) == "DIGEST_INVALID"
    no_repo = await host.client.get(f"/v2/admin/nowhere/blobs/{unknown}")
    assert no_repo.status_code == 404 and _code(no_repo) == "NAME_UNKNOWN"
    anonymous = await host.client.get(f"/v2/admin/app/blobs/{unknown}", auth=None)
    assert anonymous.status_code == 401 and "www-authenticate" in anonymous.headers
