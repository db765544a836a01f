"""Push mirroring to a second dockyard with Docker token auth, end to end: two real servers, a
user and repositories created on the remote, policies carrying that user's credentials, skopeo
pushing locally and pulling back from the remote, and a real webhook receiver. The image (a
two-platform index, and an image with a random layer) arrives byte-identical; the second
policy's copy on the same remote goes by cross-repository mount; PUSH_MIRRORING arrives once per
mirrored tag and policy."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from tests.conftest import ServerFactory
from tests.fakes.oci import build_image, build_multiplatform, make_layer
from tests.fakes.receiver import Receiver
from tests.fakes.skopeo import pull, push
from tests.integration.accounts_helpers import PASSWORD, create_repo, create_user
from tests.integration.test_mirroring_e2e import ENV, raw_digest, subscribe

pytestmark = pytest.mark.e2e
ROBOT = ("robot", PASSWORD)


def policy_body(host: str, repository: str) -> dict[str, object]:
    return {
        "remoteHost": f"http://{host}",
        "remoteRepository": repository,
        "remoteCA": "",
        "skipTLSVerification": False,
        "enabled": True,
        "username": ROBOT[0],
        "password": ROBOT[1],
        "authToken": "",
        "rules": [{"field": "tag", "operator": "sw", "values": ["v"]}],
        "tagTemplate": "%n",
    }


def layout_blobs(layout: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (layout / "blobs" / "sha256").iterdir()}


def test_push_mirroring_to_a_second_dockyard_with_token_auth(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    local = server_factory(ENV)
    remote = server_factory()
    with remote.client(auth=remote.admin_auth) as admin:
        create_user(admin, ROBOT[0])
    with remote.client(auth=ROBOT) as robot:
        create_repo(robot, "robot", "app")
        create_repo(robot, "robot", "copy")
    with Receiver() as rx, local.client(auth=local.admin_auth) as c:
        assert c.post("/api/v0/repositories/admin", json={"name": "app"}).status_code == 201
        subscribe(c, "PUSH_MIRRORING", rx.url("/push"), "admin/app")
        r = c.post(
            "/api/v0/repositories/admin/app/pushMirroringPolicies",
            json=policy_body(remote.host, "robot/app"),
        )
        assert r.status_code == 201, r.text
        assert PASSWORD not in r.text

        index = build_multiplatform(tmp_path / "multi", tag="v1")
        push(index.ref("v1"), local.host, "admin/app:v1", local.admin_auth, "--all")
        [hook] = rx.wait_for(1, "/push", timeout=180)
        contents = hook.json["contents"]
        assert (contents["tag"], contents["digest"]) == ("v1", index.manifest_digest)
        assert contents["mirroring"]["remoteRepository"] == "robot/app"
        assert contents["mirroring"]["remoteTag"] == "v1"

        # A second policy to another repository of the same remote: its blobs can be mounted.
        r = c.post(
            "/api/v0/repositories/admin/app/pushMirroringPolicies",
            json=policy_body(remote.host, "robot/copy"),
        )
        assert r.status_code == 201, r.text
        random_layer = make_layer({"random.bin": os.urandom(3 * 1024 * 1024)})
        image = build_image(tmp_path / "big", [random_layer], tag="v2")
        push(image.ref("v2"), local.host, "admin/app:v2", local.admin_auth)
        hooks = rx.wait_for(3 + 1, "/push", timeout=240)  # v1 to copy (initial), v2 to both
        time.sleep(2)
        hooks = rx.received("/push")
        seen = sorted(
            (h.json["contents"]["tag"], h.json["contents"]["mirroring"]["remoteRepository"])
            for h in hooks
        )
        assert seen == [
            ("v1", "robot/app"),
            ("v1", "robot/copy"),
            ("v2", "robot/app"),
            ("v2", "robot/copy"),
        ]  # once each

    for repo in ("robot/app", "robot/copy"):
        assert raw_digest(remote.host, f"{repo}:v1", ROBOT) == index.manifest_digest
        assert raw_digest(remote.host, f"{repo}:v2", ROBOT) == image.manifest_digest
    for name, built in (("v1", index), ("v2", image)):
        back = tmp_path / f"back-{name}"
        pull(remote.host, f"robot/copy:{name}", f"oci:{back}:{name}", ROBOT, "--all")
        pull_index = json.loads((back / "index.json").read_text())
        assert pull_index["manifests"][0]["digest"] == built.manifest_digest
        assert layout_blobs(back) == layout_blobs(built.layout)  # every byte
    requests = access_log(remote.logs())
    uploaded = Counter(
        (e["path"].split("/")[3], unquote(e["query"].split("digest=")[1].split("&")[0]))
        for e in requests
        if e.get("method") == "PUT" and "digest=" in e.get("query", "") and e["status"] == 201
    )
    mounted = Counter(
        unquote(e["query"].split("mount=")[1].split("&")[0])
        for e in requests
        if "mount=" in e.get("query", "") and e.get("status") == 201
    )
    # v1 was on robot/app when the second policy came: robot/copy got each of its blobs by
    # mount. v2 went to both at once: each blob uploaded once (to whichever ran first).
    for blob in image_blobs(index.layout):
        assert uploaded[("copy", blob)] == 0 and mounted[blob] == 1
    for blob in image_blobs(image.layout):
        assert uploaded[("app", blob)] + uploaded[("copy", blob)] == 1 and mounted[blob] == 1


def image_blobs(layout: Path) -> set[str]:
    """The config and layer digests of a layout's image (of every child of an index)."""

    def read(digest: str) -> Any:
        return json.loads((layout / "blobs" / "sha256" / digest.split(":")[1]).read_bytes())

    top = read(json.loads((layout / "index.json").read_text())["manifests"][0]["digest"])
    manifests = [read(m["digest"]) for m in top["manifests"]] if "manifests" in top else [top]
    return {d["digest"] for m in manifests for d in [m["config"], *m["layers"]]}


def access_log(text: str) -> list[dict[str, Any]]:
    """The server's request lines (JSON logs, logger dockyard.access)."""
    entries = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("event") == "http.request":
            entries.append(entry)
    return entries
