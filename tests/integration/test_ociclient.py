"""The OCI client against real registries on loopback: Debian's docker-registry (no auth) and a
second dockyard (Docker token auth). Images pushed through the client are pulled back with
skopeo byte-identical; POST /api/v0/remote/registry checks both."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from dockyard.kit.ssrf import parse_networks
from dockyard.policies import ociclient
from dockyard.policies.ociauth import Credentials
from dockyard.policies.ociclient import BlockedRemoteError, RemoteError, RemoteRegistry
from tests.conftest import ServerFactory
from tests.fakes import skopeo
from tests.fakes.oci import OCI_INDEX, build_image, build_multiplatform, make_layer, sha256
from tests.fakes.server import RunningServer, free_port

DOCKER_REGISTRY = Path("/usr/bin/docker-registry")
# No skip when docker-registry is missing: `make test` installs it, so its absence must fail.


@pytest.fixture
def distribution(tmp_path: Path) -> Iterator[str]:
    """Debian's docker-registry on a loopback port; yields its host:port."""
    port = free_port()
    config = tmp_path / "registry.yml"
    config.write_text(
        "version: 0.1\n"
        f"storage:\n  filesystem:\n    rootdirectory: {tmp_path / 'distribution'}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    log = (tmp_path / "registry.log").open("wb")
    proc = subprocess.Popen([str(DOCKER_REGISTRY), "serve", str(config)], stdout=log, stderr=log)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()
        log.close()


@pytest.fixture
def dockyard(server_factory: ServerFactory) -> RunningServer:
    return server_factory(env={"DOCKYARD_WEBHOOK_BLOCKED_NETWORKS": ""})


def _remote(host: str, creds: tuple[str, str] | None = None) -> RemoteRegistry:
    credentials = Credentials(*creds) if creds else None
    return RemoteRegistry(f"http://{host}", credentials)


async def _file_chunks(path: Path, size: int = 65536) -> AsyncIterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(size):
            yield chunk


async def _push_layout(remote: RemoteRegistry, layout: Path, repo: str, tag: str) -> str:
    """Every blob of an OCI layout (streamed from disk), then the manifests, children first."""
    blobs = layout / "blobs" / "sha256"
    top = json.loads((layout / "index.json").read_text())["manifests"][0]
    manifests = [(top["digest"], top["mediaType"])]
    if top["mediaType"] == OCI_INDEX:
        index = json.loads((blobs / top["digest"].split(":")[1]).read_bytes())
        manifests = [(m["digest"], m["mediaType"]) for m in index["manifests"]] + manifests
    manifest_digests = {d for d, _ in manifests}
    for path in sorted(blobs.iterdir()):
        digest = "sha256:" + path.name
        if digest in manifest_digests or await remote.blob_exists(repo, digest):
            continue
        await remote.push_blob(repo, digest, path.stat().st_size, _file_chunks(path, 40000))
    for digest, media_type in manifests:
        body = (blobs / digest.split(":")[1]).read_bytes()
        reference = tag if digest == top["digest"] else digest
        assert await remote.put_manifest(repo, reference, body, media_type) == digest
    return str(top["digest"])


def _pulled_digest(host: str, image: str, dest: Path, creds: tuple[str, str]) -> str:
    skopeo.pull(host, image, f"oci:{dest}:pulled", creds, "--preserve-digests", "--all")
    return str(json.loads((dest / "index.json").read_text())["manifests"][0]["digest"])


def _targets(distribution: str, dockyard: RunningServer) -> list[tuple[str, tuple[str, str]]]:
    return [(distribution, ("anyone", "anything")), (dockyard.host, dockyard.admin_auth)]


async def test_push_image_and_index_pull_back_identical(
    tmp_path: Path, distribution: str, dockyard: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ociclient, "SEGMENT", 100_000)  # several PATCHes per layer
    big = make_layer({"random.bin": os.urandom(250_000)})
    image = build_image(tmp_path / "image", [big, make_layer({"b.txt": b"second\n"})])
    index = build_multiplatform(tmp_path / "index")
    for n, (host, creds) in enumerate(_targets(distribution, dockyard)):
        async with _remote(host, creds) as remote:
            assert await _push_layout(remote, image.layout, "admin/app", "v1") == (
                image.manifest_digest
            )
            assert await _push_layout(remote, index.layout, "admin/app", "multi") == (
                index.manifest_digest
            )
            body, media_type, digest = await remote.get_manifest("admin/app", "multi")
            assert (media_type, digest, body) == (
                OCI_INDEX,
                index.manifest_digest,
                index.manifest_bytes,
            )
            assert sorted(await remote.list_tags("admin/app")) == ["multi", "v1"]
            got = b"".join([c async for c in remote.open_blob("admin/app", image.layer_digests[0])])
            assert sha256(got) == image.layer_digests[0] and got == big
        pulled = _pulled_digest(host, "admin/app:v1", tmp_path / f"out{n}", creds)
        assert pulled == image.manifest_digest
        pulled = _pulled_digest(host, "admin/app:multi", tmp_path / f"outi{n}", creds)
        assert pulled == index.manifest_digest


async def test_mount_between_repositories(
    tmp_path: Path, distribution: str, dockyard: RunningServer
) -> None:
    data = make_layer({"m.txt": b"mount me\n"})
    digest = sha256(data)

    async def once() -> AsyncIterator[bytes]:
        yield data

    for host, creds in _targets(distribution, dockyard):
        async with _remote(host, creds) as remote:
            assert not await remote.blob_exists("admin/one", digest)
            await remote.push_blob("admin/one", digest, len(data), once())
            # Expired tokens are renewed from their realm before the next request.
            remote._tokens = {k: replace(t, expires_at=0) for k, t in remote._tokens.items()}
            assert not await remote.blob_exists("admin/two", digest)
            assert await remote.mount("admin/two", digest, "admin/one")
            assert await remote.blob_exists("admin/two", digest)


async def test_a_wrong_length_is_refused(distribution: str) -> None:
    async def short() -> AsyncIterator[bytes]:
        yield b"abc"

    async with _remote(distribution) as remote:
        with pytest.raises(RemoteError, match="ended before its size"):
            await remote.push_blob("admin/x", sha256(b"abcd"), 4, short())


async def test_wrong_password_and_closed_port(dockyard: RunningServer) -> None:
    async with _remote(dockyard.host, ("admin", "not-the-password")) as remote:
        with pytest.raises(RemoteError, match="wrong username or password"):
            await remote.list_tags("admin/app")
    port = free_port()
    async with _remote(f"127.0.0.1:{port}") as remote:
        with pytest.raises(RemoteError, match=f"cannot connect to 127.0.0.1:{port}"):
            await remote.blob_exists("admin/app", sha256(b""))


async def test_a_blocked_network_is_refused(distribution: str) -> None:
    blocked = parse_networks("127.0.0.0/8")
    async with RemoteRegistry(f"http://{distribution}", blocked=blocked) as remote:
        with pytest.raises(BlockedRemoteError, match="blocked"):
            await remote.list_tags("admin/app")


def test_remote_registry_check_route(
    distribution: str, dockyard: RunningServer, server_factory: ServerFactory
) -> None:
    other = server_factory()  # token auth; loopback blocked by default
    with dockyard.client(auth=dockyard.admin_auth) as client:
        for host, creds in _targets(distribution, other):
            body = {
                "remoteHost": f"http://{host}",
                "remoteRepository": "admin/app",
                "username": creds[0],
                "password": creds[1],
            }
            resp = client.post("/api/v0/remote/registry", json=body)
            assert resp.status_code == 201, resp.text
            assert resp.json()["permissions"] == {"read": True, "write": True}
        resp = client.post(
            "/api/v0/remote/registry",
            json={
                "remoteHost": f"http://{other.host}",
                "remoteRepository": "admin/app",
                "username": "admin",
                "password": "wrong",
            },
        )
        assert resp.status_code == 400
        assert resp.json()["errors"][0]["code"] == "REMOTE_REGISTRY_INVALID_PERMISSIONS"
        assert "wrong username or password" in resp.json()["errors"][0]["message"]
    with other.client(auth=other.admin_auth) as client:
        resp = client.post("/api/v0/remote/registry", json={"remoteHost": f"http://{distribution}"})
        assert resp.status_code == 400
        assert resp.json()["errors"][0]["code"] == "REMOTE_REGISTRY_BLOCKED"
    with dockyard.client() as anonymous:
        resp = anonymous.post("/api/v0/remote/registry", json={"remoteHost": distribution})
        assert resp.status_code == 401
