"""`dockyard gc` (issue 8, item 20): the dry run counts exactly what the run then removes (the
files of deleted manifests included), and a gc that keeps things only because they are younger
than the grace period says how many and why."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time

from tests.fakes.server import RunningServer
from tests.integration.registry_helpers import push, upload


def run_gc(srv: RunningServer, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "dockyard", "gc", *args],
        env={**os.environ, **srv.env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def summary(out: str) -> str:
    """The counts line, with the verb taken out so a dry run and a run compare equal."""
    match = re.search(r"^gc (?:would remove|removed): (.*)$", out, re.MULTILINE)
    assert match, out
    return match.group(1)


def plant_orphan_file(srv: RunningServer, data: bytes) -> None:
    """A blob file no row names (a crash between the storage and the database commit), old."""
    encoded = hashlib.sha256(data).hexdigest()
    path = srv.data_dir / "storage" / "blobs" / "sha256" / encoded[:2] / encoded
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    old = time.time() - 7200
    os.utime(path, (old, old))


def test_dry_run_counts_what_the_run_removes(server: RunningServer) -> None:
    srv = server
    with srv.client(auth=srv.admin_auth) as c:
        push(c, "admin/dry", "keep", b"kept layer")
        for n in range(3):
            push(c, "admin/dry", f"drop{n}", f"doomed layer {n}".encode())
        upload(c, "admin/dry", b"never referenced")
        for n in range(3):
            assert c.delete(f"/v2/admin/dry/manifests/drop{n}").status_code == 202
    plant_orphan_file(srv, b"left by a crash")

    planned = summary(run_gc(srv, "--grace-minutes", "0", "--dry-run"))
    removed = summary(run_gc(srv, "--grace-minutes", "0"))

    assert planned == removed
    # 3 manifests; 3 layers and the loose blob (the config is shared with the kept image);
    # the 3 manifests' own files and the crash's file.
    assert removed.startswith("3 manifests, 4 blobs ")
    assert "4 orphan files" in removed
    assert summary(run_gc(srv, "--grace-minutes", "0", "--dry-run")).startswith(
        "0 manifests, 0 blobs (0 bytes), 0 orphan files"
    )
    with srv.client(auth=srv.admin_auth) as c:
        assert c.get("/v2/admin/dry/manifests/keep").status_code == 200


def test_gc_says_what_the_grace_period_kept(server: RunningServer) -> None:
    srv = server
    with srv.client(auth=srv.admin_auth) as c:
        push(c, "admin/young", "keep", b"kept layer")
        for n in range(2):
            push(c, "admin/young", f"drop{n}", f"young layer {n}".encode())
            assert c.delete(f"/v2/admin/young/manifests/drop{n}").status_code == 202

    for args in (("--dry-run",), ()):
        out = run_gc(srv, *args)
        assert summary(out).startswith("0 manifests, 0 blobs (0 bytes), 0 orphan files")
        assert (
            "gc kept 2 manifests, 2 blobs, 2 files and 0 uploads because they are younger than "
            "the grace period (60 minutes)"
        ) in out

    out = run_gc(srv, "--grace-minutes", "0")
    assert summary(out).startswith("2 manifests, 2 blobs ")
    assert "gc kept" not in out
