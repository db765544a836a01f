"""End to end on S3: the real `dockyard serve` with DOCKYARD_STORAGE=s3 against moto. A skopeo
push and pull (byte-identical), a chunked upload across a restart of the server, a mount, range
reads, `dockyard gc` deleting from the bucket, blob GETs redirected to presigned URLs, and a
start refused in one line when the bucket cannot be used."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.fakes import skopeo
from tests.fakes.oci import build_image, make_layer
from tests.fakes.s3 import S3Server
from tests.fakes.server import RunningServer
from tests.integration.registry_helpers import digest, push, upload

MIB = 1024 * 1024


def bucket_keys(s3: S3Server, bucket: str, prefix: str) -> list[str]:
    """Object keys under `prefix` (moto answers unsigned ListObjectsV2 requests)."""
    response = httpx.get(
        f"{s3.endpoint}/{bucket}", params={"list-type": "2", "prefix": prefix}, timeout=30
    )
    response.raise_for_status()
    return re.findall(r"<Key>([^<]+)</Key>", response.text)


def blob_files(srv: RunningServer) -> list[Path]:
    return [p for p in (srv.data_dir / "storage").rglob("*") if p.is_file()]


def run_gc(srv: RunningServer) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "dockyard", "gc", "--grace-minutes", "0"],
        env={**os.environ, **srv.env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def chunked_upload(c: httpx.Client, repo: str, data: bytes, srv: RunningServer) -> str:
    """POST, PATCHes of 3 MiB with Content-Range (the server restarts half-way), PUT."""
    start = c.post(f"/v2/{repo}/blobs/uploads/")
    assert start.status_code == 202, start.text
    location = start.headers["Location"]
    for offset in range(0, len(data), 3 * MIB):
        if offset == 6 * MIB:
            srv.restart()  # the upload's state is in the database and the bucket
            assert c.get(location).headers["Range"] == f"0-{offset - 1}"
        chunk = data[offset : offset + 3 * MIB]
        headers = {"Content-Range": f"{offset}-{offset + len(chunk) - 1}"}
        patched = c.patch(location, content=chunk, headers=headers)
        assert patched.status_code == 202, patched.text
        assert patched.headers["Range"] == f"0-{offset + len(chunk) - 1}"
    done = c.put(location, params={"digest": digest(data)})
    assert done.status_code == 201, done.text
    return digest(data)


def test_push_pull_chunked_mount_gc(
    server_factory: ServerFactory, s3_server: S3Server, tmp_path: Path
) -> None:
    bucket = s3_server.new_bucket()
    srv = server_factory(env=s3_server.settings_env(bucket, prefix="registry"))
    big = make_layer({"big.bin": os.urandom(12 * MIB)})  # random: stays > one 8 MiB part
    image = build_image(tmp_path / "src", layers=[big, make_layer({"a.txt": b"alpha\n"})])
    skopeo.push(image.ref(), srv.host, "admin/s3:v1", srv.admin_auth)
    out = tmp_path / "out"
    skopeo.pull(srv.host, "admin/s3:v1", f"oci:{out}:v1", srv.admin_auth)
    for name in [image.manifest_digest, image.config_digest, *image.layer_digests]:
        hex_name = name.split(":")[1]
        pulled = (out / "blobs" / "sha256" / hex_name).read_bytes()
        assert pulled == (image.layout / "blobs" / "sha256" / hex_name).read_bytes()
    keys = bucket_keys(s3_server, bucket, "registry/blobs/")
    assert {f"registry/blobs/sha256/{d[7:9]}/{d[7:]}" for d in image.layer_digests} <= set(keys)
    assert blob_files(srv) == []  # nothing on the local disk

    data = os.urandom(13 * MIB + 5)
    with srv.client(auth=srv.admin_auth) as c:
        blob = chunked_upload(c, "admin/s3", data, srv)
        assert c.get(f"/v2/admin/s3/blobs/{blob}").content == data
        ranged = c.get(f"/v2/admin/s3/blobs/{blob}", headers={"Range": "bytes=100-199"})
        assert ranged.status_code == 206 and ranged.content == data[100:200]
        mounted = c.post(
            "/v2/admin/mounted/blobs/uploads/", params={"mount": blob, "from": "admin/s3"}
        )
        assert mounted.status_code == 201
        assert c.get(f"/v2/admin/mounted/blobs/{blob}").content == data
        assert bucket_keys(s3_server, bucket, "registry/uploads/") == []

        loose = upload(c, "admin/s3", b"never referenced")
        push(c, "admin/s3", "kept", b"kept layer")
        # No manifest references the chunked blob or the loose one: both go, from the bucket too.
        assert "removed: 0 manifests, 2 blobs" in run_gc(srv)
        remaining = bucket_keys(s3_server, bucket, "registry/blobs/")
        for gone in (loose, blob):
            assert c.get(f"/v2/admin/s3/blobs/{gone}").status_code == 404
            assert f"registry/blobs/sha256/{gone[7:9]}/{gone[7:]}" not in remaining
        assert c.get("/v2/admin/s3/manifests/v1").status_code == 200
        kept = c.get(f"/v2/admin/s3/blobs/{digest(b'kept layer')}")
        assert kept.content == b"kept layer"
    assert blob_files(srv) == []


def test_blob_gets_redirect_to_presigned_urls(
    server_factory: ServerFactory, s3_server: S3Server, tmp_path: Path
) -> None:
    bucket = s3_server.new_bucket()
    env = {**s3_server.settings_env(bucket), "DOCKYARD_S3_REDIRECT": "true"}
    srv = server_factory(env=env)
    image = build_image(tmp_path / "src", layers=[make_layer({"r.txt": os.urandom(1000)})])
    skopeo.push(image.ref(), srv.host, "admin/redirect:v1", srv.admin_auth)
    with srv.client(auth=srv.admin_auth) as c:
        layer = image.layer_digests[0]
        response = c.get(f"/v2/admin/redirect/blobs/{layer}")
        assert response.status_code == 307
        assert response.headers["Location"].startswith(s3_server.endpoint)
        followed = httpx.get(response.headers["Location"], timeout=30)
        expected = (image.layout / "blobs" / "sha256" / layer[7:]).read_bytes()
        assert followed.content == expected
        assert c.head(f"/v2/admin/redirect/blobs/{layer}").status_code == 200
    # skopeo follows the redirect to the object store.
    out = tmp_path / "out"
    skopeo.pull(srv.host, "admin/redirect:v1", f"oci:{out}:v1", srv.admin_auth)
    assert (out / "blobs" / "sha256" / layer[7:]).read_bytes() == expected


def test_serve_refuses_a_bucket_it_cannot_use(
    server_factory: ServerFactory, s3_server: S3Server
) -> None:
    for env, expected in (
        (s3_server.settings_env("no-such-bucket"), "error: the blob storage cannot be used"),
        ({**s3_server.settings_env("x"), "DOCKYARD_S3_BUCKET": ""}, "needs DOCKYARD_S3_BUCKET"),
    ):
        srv = server_factory(env=env, start=False)
        with pytest.raises(RuntimeError, match="exited early"):
            srv.start(timeout=60)
        assert expected in srv.logs() and "Traceback" not in srv.logs()
