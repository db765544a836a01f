"""Helpers for the accounts / access tests: set fixtures up through the API, push a tiny image
over plain HTTP (faster than skopeo where the client is not under test)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx

from tests.fakes.server import RunningServer

PASSWORD = "password-for-tests"


def ok(response: httpx.Response, *expected: int) -> httpx.Response:
    wanted = expected or (200, 201, 204)
    assert response.status_code in wanted, (
        f"{response.request.method} {response.request.url} -> {response.status_code} "
        f"{response.text[:500]}"
    )
    return response


def create_user(admin: httpx.Client, name: str, *, is_admin: bool = False) -> None:
    ok(
        admin.post(
            "/enzi/v0/accounts", json={"name": name, "password": PASSWORD, "isAdmin": is_admin}
        ),
        201,
    )


def create_org(admin: httpx.Client, name: str) -> None:
    ok(admin.post("/enzi/v0/accounts", json={"name": name, "isOrg": True}), 201)


def add_member(admin: httpx.Client, org: str, user: str, *, is_admin: bool = False) -> None:
    ok(admin.put(f"/enzi/v0/accounts/{org}/members/{user}", json={"isAdmin": is_admin}))


def create_team(admin: httpx.Client, org: str, team: str, members: list[str]) -> None:
    ok(admin.post(f"/enzi/v0/accounts/{org}/teams", json={"name": team}), 201)
    for user in members:
        ok(admin.put(f"/enzi/v0/accounts/{org}/teams/{team}/members/{user}", json={}))


def create_repo(
    client: httpx.Client, namespace: str, name: str, visibility: str = "private"
) -> dict[str, Any]:
    return dict(
        ok(
            client.post(
                f"/api/v0/repositories/{namespace}", json={"name": name, "visibility": visibility}
            ),
            201,
        ).json()
    )


def grant_repo(admin: httpx.Client, repo: str, team: str, level: str) -> None:
    ok(admin.put(f"/api/v0/repositories/{repo}/teamAccess/{team}", json={"accessLevel": level}))


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def upload_blob(client: httpx.Client, repo: str, data: bytes) -> str:
    digest = _digest(data)
    start = ok(client.post(f"/v2/{repo}/blobs/uploads/"), 202)
    location = start.headers["location"]
    sep = "&" if "?" in location else "?"
    ok(
        client.put(
            f"{location}{sep}digest={digest}",
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        ),
        201,
    )
    return digest


def push_image(client: httpx.Client, repo: str, tag: str, content: bytes = b"layer") -> str:
    """Push a one-layer OCI image; returns the manifest digest."""
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
    ).encode()
    config_digest = upload_blob(client, repo, config)
    layer_digest = upload_blob(client, repo, content)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer_digest,
                    "size": len(content),
                }
            ],
        }
    ).encode()
    ok(
        client.put(
            f"/v2/{repo}/manifests/{tag}",
            content=manifest,
            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        ),
        201,
    )
    return _digest(manifest)


def client_for(server: RunningServer, user: str | None) -> httpx.Client:
    if user is None:
        return server.client()
    if user == "admin":
        return server.client(auth=server.admin_auth)
    return server.client(auth=(user, PASSWORD))
