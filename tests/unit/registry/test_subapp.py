"""The /v2 application stands alone: its error handlers answer with OCI envelopes (a route it
lacks, a DockyardError, a method it lacks, a 401 with the registry's challenge) and every answer
says `Docker-Distribution-API-Version`; mounted in the host, /v2 traffic passes the request log
but not the host's body limit or security headers."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dockyard.config import Settings
from dockyard.db.migrate import upgrade
from dockyard.registry import manifests
from dockyard.registry.app import create_registry_app
from dockyard.services import build_services
from tests.fakes.inprocess import ADMIN, InProcess, inprocess_app

VERSION = "docker-distribution-api-version"


async def _client(tmp_path: Path, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    services = build_services(Settings(data_dir=tmp_path / "data", **settings))
    await asyncio.to_thread(upgrade, services.settings.resolved_database_url)
    app = create_registry_app(services)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://registry.test") as c:
            yield c
    finally:
        await services.close()


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for c in _client(tmp_path, external_url="registry.test"):
        yield c


def _code(response: httpx.Response) -> str:
    errors = response.json()["errors"]
    assert len(errors) == 1 and errors[0]["message"]
    return str(errors[0]["code"])


async def test_a_route_it_lacks_is_name_unknown(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v0/repositories")
    assert r.status_code == 404 and _code(r) == "NAME_UNKNOWN"
    assert r.headers[VERSION] == "registry/2.0"


async def test_a_dockyard_error_is_an_oci_envelope(client: httpx.AsyncClient) -> None:
    r = await client.get("/v2/ns/app/blobs/not-a-digest")
    assert r.status_code == 400 and _code(r) == "DIGEST_INVALID"
    assert r.json()["errors"][0]["detail"] == {"digest": "not-a-digest"}
    assert r.headers[VERSION] == "registry/2.0"


async def test_a_method_it_lacks_is_unsupported(client: httpx.AsyncClient) -> None:
    r = await client.request("OPTIONS", "/v2/ns/app/tags/list")
    assert r.status_code == 405 and _code(r) == "UNSUPPORTED"


@pytest.mark.parametrize("path", ["/v2/", "/v2"])
async def test_anonymous_is_challenged_with_a_bearer_realm(
    client: httpx.AsyncClient, path: str
) -> None:
    r = await client.get(path)
    assert r.status_code == 401 and _code(r) == "UNAUTHORIZED"
    assert r.headers["www-authenticate"] == (
        'Bearer realm="http://registry.test/auth/token",service="registry.test"'
    )
    assert r.headers[VERSION] == "registry/2.0"


async def test_the_scope_a_request_needs_is_in_its_challenge(client: httpx.AsyncClient) -> None:
    r = await client.get("/v2/ns/app/manifests/v1")
    assert r.status_code == 401 and _code(r) == "UNAUTHORIZED"
    assert r.headers["www-authenticate"].endswith(',scope="repository:ns/app:pull"')


async def test_without_token_auth_the_challenge_is_basic(tmp_path: Path) -> None:
    async for c in _client(tmp_path, registry_token_auth=False):
        r = await c.get("/v2/")
        assert r.status_code == 401 and _code(r) == "UNAUTHORIZED"
        assert r.headers["www-authenticate"] == 'Basic realm="dockyard"'


# -- mounted in the host --------------------------------------------------------------------


@pytest.fixture
async def host(tmp_path: Path, database_url: str) -> AsyncIterator[InProcess]:
    async with inprocess_app(tmp_path / "data", database_url, max_json_body_bytes=1024) as app:
        yield app


async def test_the_host_mounts_it_behind_the_request_log_only(host: InProcess) -> None:
    anonymous = httpx.BasicAuth("", "")  # no credentials: the host's client has admin's
    v2 = await host.client.get("/v2/", auth=anonymous)
    assert v2.status_code == 401 and _code(v2) == "UNAUTHORIZED"
    assert v2.headers[VERSION] == "registry/2.0" and v2.headers["x-request-id"]
    assert "content-security-policy" not in v2.headers
    api = await host.client.get("/api/v0/repositories/nobody/nothing", auth=anonymous)
    assert api.status_code in (401, 404) and _code(api) in ("NOT_AUTHENTICATED", "NOT_FOUND")
    assert api.headers["www-authenticate" if api.status_code == 401 else "x-request-id"]
    assert VERSION not in api.headers and "content-security-policy" in api.headers


async def test_the_host_body_limit_does_not_reach_v2(host: InProcess) -> None:
    body = b'{"schemaVersion": 2, "padding": "' + b"x" * 4096 + b'"}'
    manifest = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
    r = await host.client.put("/v2/admin/app/manifests/v1", content=body, headers=manifest)
    assert r.status_code == 400 and _code(r) == "MANIFEST_INVALID"
    api = await host.client.post("/api/v0/repositories/admin", content=body)
    assert api.status_code == 413 and _code(api) == "REQUEST_TOO_LARGE"


async def test_a_blob_get_through_the_host_is_sent_by_pathsend(host: InProcess) -> None:
    """Granian's zero-copy `http.response.pathsend` reaches the blob GET through the mount."""
    data = b"layer bytes"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    r = await host.client.post(f"/v2/admin/app/blobs/uploads/?digest={digest}", content=data)
    assert r.status_code == 201
    credentials = base64.b64encode(f"{ADMIN[0]}:{ADMIN[1]}".encode())
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": f"/v2/admin/app/blobs/{digest}",
        "raw_path": f"/v2/admin/app/blobs/{digest}".encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"dockyard.test"), (b"authorization", b"Basic " + credentials)],
        "client": ("127.0.0.1", 1234),
        "server": ("dockyard.test", 80),
        "extensions": {"http.response.pathsend": {}},
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await host.app(scope, receive, send)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 200
    assert (b"docker-distribution-api-version", b"registry/2.0") in sent[0]["headers"]
    assert sent[1]["type"] == "http.response.pathsend"
    assert sent[1]["path"] == str(host.services.storage.local_path(digest))


async def test_an_unexpected_error_on_a_read_is_the_last_resort_answer(
    host: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Manifest reads skip the application's outer layers (RegistryApplication): an error
    nothing handles still gets the 500 envelope with its request id, the version header and
    the access line's request id, as on any other route."""

    async def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(manifests, "load_for_pull", broken)
    r = await host.client.get("/v2/admin/app/manifests/v1")
    assert r.status_code == 500 and _code(r) == "INTERNAL_ERROR"
    assert r.headers[VERSION] == "registry/2.0" and r.headers["x-request-id"]
