"""podman, a second real client: log in (bearer token flow), push, pull back, and see the tag in
MSR's API."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.oci import build_image
from tests.fakes.server import RunningServer


def _podman(storage: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("podman")
    assert exe, "podman is not installed; `make test` installs it"
    cmd = [
        exe,
        "--root",
        str(storage / "root"),
        "--runroot",
        str(storage / "run"),
        "--storage-driver",
        "vfs",
        *args,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"podman {' '.join(args)} failed:\n{result.stderr}"
    return result


@pytest.fixture
def podman_storage() -> Iterator[Path]:
    # podman refuses a runroot path longer than 50 characters, so it lives in a short temp dir.
    short = Path(tempfile.mkdtemp(prefix="pd-", dir="/tmp"))
    yield short / "s"
    shutil.rmtree(short, ignore_errors=True)


def test_podman_login_push_pull(
    server: RunningServer, tmp_path: Path, podman_storage: Path
) -> None:
    image = build_image(tmp_path / "layout")
    storage = podman_storage
    auth_file = tmp_path / "auth.json"
    target = f"{server.host}/admin/podman-test:v1"

    _podman(
        storage,
        "login",
        "--tls-verify=false",
        "--authfile",
        str(auth_file),
        "-u",
        "admin",
        "-p",
        server.admin_password,
        server.host,
    )
    _podman(storage, "pull", "-q", image.ref())
    image_id = _podman(storage, "images", "-q").stdout.split()[0]
    _podman(storage, "tag", image_id, target)
    _podman(storage, "push", "--tls-verify=false", "--authfile", str(auth_file), target)
    _podman(storage, "rmi", "-f", target)
    _podman(storage, "pull", "-q", "--tls-verify=false", "--authfile", str(auth_file), target)

    with server.client(auth=server.admin_auth) as client:
        tags = client.get("/api/v0/repositories/admin/podman-test/tags").json()
    assert [tag["name"] for tag in tags] == ["v1"]
    assert tags[0]["author"] == "admin"
    assert tags[0]["manifest"]["os"] == "linux"
    assert tags[0]["manifest"]["architecture"] == "amd64"
