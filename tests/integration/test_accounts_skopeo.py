"""Real clients: skopeo logs in and copies with Docker token auth (Bearer) and with Basic, an
API token works as the password, a revoked one is refused, and a team grant lets a user push
to an organization's repository."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.fakes.oci import build_image
from tests.fakes.server import RunningServer
from tests.fakes.skopeo import skopeo
from tests.integration.accounts_helpers import (
    PASSWORD,
    create_org,
    create_repo,
    create_team,
    create_user,
    grant_repo,
    ok,
)


@pytest.fixture(scope="module")
def admin(module_server: RunningServer) -> Iterator[httpx.Client]:
    with module_server.client(auth=module_server.admin_auth) as client:
        create_user(client, "pusher")
        create_user(client, "viewer")
        create_org(client, "skorg")
        create_team(client, "skorg", "builders", ["pusher"])
        create_repo(client, "skorg", "app")
        grant_repo(client, "skorg/app", "builders", "read-write")
        create_repo(client, "skorg", "open", visibility="public")
        yield client


def _login(tmp_path: Path, server: RunningServer, user: str, password: str) -> Path:
    authfile = tmp_path / "auth.json"
    proc = subprocess.run(
        [
            "skopeo",
            "login",
            "--tls-verify=false",
            "--authfile",
            str(authfile),
            "-u",
            user,
            "--password-stdin",
            server.host,
        ],
        input=password,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return authfile


def test_bearer_flow_login_push_to_org_repo_via_team(
    tmp_path: Path, module_server: RunningServer, admin: httpx.Client
) -> None:
    # The /v2 challenge is Docker token auth.
    challenge = httpx.get(f"{module_server.url}/v2/").headers["www-authenticate"]
    assert challenge.startswith("Bearer realm=") and "/auth/token" in challenge
    image = build_image(tmp_path / "img")
    authfile = _login(tmp_path, module_server, "pusher", PASSWORD)
    skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--authfile",
        str(authfile),
        image.ref(),
        f"docker://{module_server.host}/skorg/app:v1",
    )
    tags = ok(admin.get("/api/v0/repositories/skorg/app/tags")).json()
    assert [(t["name"], t["digest"]) for t in tags] == [("v1", image.manifest_digest)]
    assert tags[0]["author"] == "pusher"
    # viewer has no access to the private repository: the push is refused.
    viewer_auth = _login(tmp_path / "v", module_server, "viewer", PASSWORD)
    denied = skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--authfile",
        str(viewer_auth),
        image.ref(),
        f"docker://{module_server.host}/skorg/app:v2",
        check=False,
    )
    assert denied.returncode != 0


def test_anonymous_pull_of_public_repo_with_bearer_flow(
    tmp_path: Path, module_server: RunningServer, admin: httpx.Client
) -> None:
    image = build_image(tmp_path / "img")
    skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        f"admin:{module_server.admin_password}",
        image.ref(),
        f"docker://{module_server.host}/skorg/open:v1",
    )
    out = tmp_path / "pulled"
    skopeo(
        "copy",
        "--src-tls-verify=false",
        "--src-no-creds",
        f"docker://{module_server.host}/skorg/open:v1",
        f"oci:{out}:v1",
    )
    index = json.loads((out / "index.json").read_text())
    assert index["manifests"][0]["digest"] == image.manifest_digest
    # The private repository stays closed to anonymous pulls.
    closed = skopeo(
        "inspect",
        "--tls-verify=false",
        "--no-creds",
        f"docker://{module_server.host}/skorg/app:v1",
        check=False,
    )
    assert closed.returncode != 0


def test_api_token_as_password_and_revoked_token(
    tmp_path: Path, module_server: RunningServer, admin: httpx.Client
) -> None:
    created = ok(admin.post("/api/v0/api_tokens", params={"username": "pusher"}, json={})).json()
    token = created["token"]
    image = build_image(tmp_path / "img")
    skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        f"pusher:{token}",
        image.ref(),
        f"docker://{module_server.host}/skorg/app:by-token",
    )
    ok(admin.patch(f"/api/v0/api_tokens/{created['hashedToken']}", json={"isActive": False}))
    refused = skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        f"pusher:{token}",
        image.ref(),
        f"docker://{module_server.host}/skorg/app:revoked",
        check=False,
    )
    assert refused.returncode != 0
    assert "username or password is wrong" in refused.stderr


def test_basic_flow(tmp_path: Path, server_factory: ServerFactory) -> None:
    """With DOCKYARD_REGISTRY_TOKEN_AUTH=false the challenge is Basic; skopeo still works."""
    srv = server_factory(env={"DOCKYARD_REGISTRY_TOKEN_AUTH": "false"})
    challenge = httpx.get(f"{srv.url}/v2/").headers["www-authenticate"]
    assert challenge.startswith("Basic")
    with srv.client(auth=srv.admin_auth) as admin:
        create_user(admin, "basicuser")
    image = build_image(tmp_path / "img")
    authfile = _login(tmp_path, srv, "basicuser", PASSWORD)
    skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--authfile",
        str(authfile),
        image.ref(),
        f"docker://{srv.host}/basicuser/app:v1",
    )
    out = tmp_path / "pulled"
    skopeo(
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        f"basicuser:{PASSWORD}",
        f"docker://{srv.host}/basicuser/app:v1",
        f"oci:{out}:v1",
    )
    assert json.loads((out / "index.json").read_text())["manifests"][0]["digest"] == (
        image.manifest_digest
    )
