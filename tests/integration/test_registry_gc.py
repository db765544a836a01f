"""`dockyard gc`: removes untagged manifests and unreferenced blobs (here with no grace period),
keeps everything a tag still reaches, and `--dry-run` removes nothing."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.fakes.server import RunningServer
from tests.integration.registry_helpers import digest, image_manifest, push, put_manifest, upload


def run_gc(srv: RunningServer, *args: str) -> str:
    env = {**os.environ, **srv.env}
    result = subprocess.run(
        [sys.executable, "-m", "dockyard", "gc", "--grace-minutes", "0", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_gc(module_server: RunningServer) -> None:
    srv = module_server
    with srv.client(auth=srv.admin_auth) as c:
        kept = push(c, "admin/gc", "keep", b"kept layer")
        body = image_manifest(c, "admin/gc", b"doomed layer")
        assert put_manifest(c, "admin/gc", "drop", body).status_code == 201
        doomed = digest(body)
        loose = upload(c, "admin/gc", b"never referenced")
        assert c.delete("/v2/admin/gc/manifests/drop").status_code == 202

        out = run_gc(srv, "--dry-run")
        assert "would remove: 1 manifests" in out
        assert c.get(f"/v2/admin/gc/manifests/{doomed}").status_code == 200
        assert c.get(f"/v2/admin/gc/blobs/{loose}").status_code == 200

        out = run_gc(srv)
        assert "removed: 1 manifests, 2 blobs" in out  # the doomed layer and the loose blob
        assert c.get(f"/v2/admin/gc/manifests/{doomed}").status_code == 404
        assert c.get(f"/v2/admin/gc/blobs/{loose}").status_code == 404
        assert c.get(f"/v2/admin/gc/blobs/{digest(b'doomed layer')}").status_code == 404
        # What the tag reaches is intact.
        assert c.get("/v2/admin/gc/manifests/keep").status_code == 200
        assert c.get(f"/v2/admin/gc/manifests/{kept}").status_code == 200
        assert c.get(f"/v2/admin/gc/blobs/{digest(b'kept layer')}").content == b"kept layer"
        assert "removed: 0 manifests, 0 blobs" in run_gc(srv)
