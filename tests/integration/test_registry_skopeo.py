"""End to end with skopeo: push an OCI layout, pull it back byte-identical, inspect, delete;
a two-platform index; and the events one push records in the outbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fakes import skopeo
from tests.fakes.oci import build_image, build_multiplatform, make_layer
from tests.fakes.server import RunningServer
from tests.integration.registry_helpers import events


def layout_blobs(layout: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (layout / "blobs" / "sha256").iterdir()}


def test_push_pull_inspect_delete(module_server: RunningServer, tmp_path: Path) -> None:
    srv = module_server
    image = build_image(
        tmp_path / "src",
        layers=[make_layer({"a.txt": b"alpha\n"}), make_layer({"b.txt": b"beta\n" * 1000})],
    )
    skopeo.push(image.ref(), srv.host, "admin/e2e:v1", srv.admin_auth)
    out = tmp_path / "out"
    skopeo.pull(srv.host, "admin/e2e:v1", f"oci:{out}:v1", srv.admin_auth)
    pulled = layout_blobs(out)
    original = layout_blobs(image.layout)
    for name in [image.manifest_digest, image.config_digest, *image.layer_digests]:
        hex_name = name.split(":")[1]
        assert pulled[hex_name] == original[hex_name]
    inspect = json.loads(
        skopeo.skopeo(
            "inspect",
            "--tls-verify=false",
            "--creds",
            ":".join(srv.admin_auth),
            f"docker://{srv.host}/admin/e2e:v1",
        ).stdout
    )
    assert inspect["Digest"] == image.manifest_digest
    assert inspect["Architecture"] == "amd64" and inspect["RepoTags"] == ["v1"]

    # Exactly one TAG_PUSH and one MANIFEST_PUSH for this push.
    kinds = [t for t, _p in events(srv.database_url, "admin/e2e")]
    assert kinds.count("TAG_PUSH") == 1 and kinds.count("MANIFEST_PUSH") == 1
    tag_push = next(p for t, p in events(srv.database_url, "admin/e2e") if t == "TAG_PUSH")
    assert tag_push["contents"]["tag"] == "v1"
    assert tag_push["contents"]["digest"] == image.manifest_digest
    assert tag_push["contents"]["os"] == "linux"
    assert tag_push["location"] == "/repositories/admin/e2e/tags/v1"

    skopeo.skopeo(
        "delete",
        "--tls-verify=false",
        "--creds",
        ":".join(srv.admin_auth),
        f"docker://{srv.host}/admin/e2e:v1",
    )
    result = skopeo.skopeo(
        "inspect",
        "--tls-verify=false",
        "--creds",
        ":".join(srv.admin_auth),
        f"docker://{srv.host}/admin/e2e:v1",
        check=False,
    )
    assert result.returncode != 0
    kinds = [t for t, _p in events(srv.database_url, "admin/e2e")]
    assert kinds.count("MANIFEST_DELETE") == 1 and kinds.count("TAG_DELETE") == 1


@pytest.mark.parametrize("fmt", ["oci", "v2s2"])
def test_two_platform_index(module_server: RunningServer, tmp_path: Path, fmt: str) -> None:
    srv = module_server
    image = build_multiplatform(tmp_path / "multi")
    repo = f"admin/multi-{fmt}"
    extra = ["--all"] + (["--format", "v2s2"] if fmt == "v2s2" else [])
    skopeo.push(image.ref(), srv.host, f"{repo}:latest", srv.admin_auth, *extra)
    out = tmp_path / "out"
    skopeo.pull(srv.host, f"{repo}:latest", f"oci:{out}:latest", srv.admin_auth, "--all")
    if fmt == "oci":
        index = json.loads((out / "index.json").read_text())
        assert index["manifests"][0]["digest"] == image.manifest_digest
        assert layout_blobs(out)[image.manifest_digest.split(":")[1]] == image.manifest_bytes
    for arch in ("amd64", "arm64"):
        inspect = json.loads(
            skopeo.skopeo(
                "inspect",
                "--tls-verify=false",
                "--creds",
                ":".join(srv.admin_auth),
                "--override-arch",
                arch,
                f"docker://{srv.host}/{repo}:latest",
            ).stdout
        )
        assert inspect["Architecture"] == arch
    found = events(srv.database_url, repo)
    tag_pushes = [p for t, p in found if t == "TAG_PUSH"]
    assert len(tag_pushes) == 1
    assert tag_pushes[0]["contents"]["os"] == "" and tag_pushes[0]["contents"]["architecture"] == ""
    assert [t for t, _p in found].count("MANIFEST_PUSH") == 3
