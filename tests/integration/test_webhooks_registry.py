"""Registry events through real clients: a skopeo push gives exactly one TAG_PUSH and one
MANIFEST_PUSH with the seed's fields; pulls and deletes give their events; an image index
gives one TAG_PUSH, never one per platform."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import webhook_seed as seed
from tests.fakes.databases import create_database, drop_database
from tests.fakes.oci import build_image, build_multiplatform
from tests.fakes.receiver import Receiver
from tests.fakes.server import RunningServer, make_server
from tests.fakes.skopeo import pull, push

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    folder: Path = tmp_path_factory.mktemp("wh-registry")
    server = make_server(
        folder,
        create_database(folder),
        {"DOCKYARD_WEBHOOK_BLOCKED_NETWORKS": ""},
    )
    # imageName carries the host of DOCKYARD_EXTERNAL_URL (the token realm uses it too).
    server.env["DOCKYARD_EXTERNAL_URL"] = f"http://{server.host}"
    server.start()
    seed.user(server, "alice")
    yield server
    server.kill()
    drop_database(server.database_url)


@pytest.fixture(scope="module")
def rx() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def subscribe_all(srv: RunningServer, rx: Receiver, key: str, path: str) -> None:
    with srv.client(auth=srv.admin_auth) as c:
        for t in (
            "TAG_PUSH",
            "MANIFEST_PUSH",
            "TAG_PULL",
            "MANIFEST_PULL",
            "TAG_DELETE",
            "MANIFEST_DELETE",
        ):
            resp = c.post(
                "/api/v0/webhooks", json={"type": t, "key": key, "endpoint": rx.url(path)}
            )
            assert resp.status_code == 201, resp.text


def by_type(rx: Receiver, path: str) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for r in rx.received(path):
        found.setdefault(r.json["type"], []).append(r.json)
    return found


def settle(rx: Receiver, path: str, count: int) -> None:
    rx.wait_for(count, path, timeout=30)
    time.sleep(0.5)  # let any (wrong) extra delivery arrive too, so counts are exact


def test_push_pull_delete(srv: RunningServer, rx: Receiver, tmp_path: Path) -> None:
    seed.repo(srv, "alice", "web")
    subscribe_all(srv, rx, "alice/web", "/web")
    image = build_image(tmp_path / "img")
    push(f"oci:{image.layout}:latest", srv.host, "alice/web:v1", ("alice", "password-123"))
    settle(rx, "/web", 2)
    events = by_type(rx, "/web")
    assert sorted(events) == ["MANIFEST_PUSH", "TAG_PUSH"]
    [tag] = events["TAG_PUSH"]
    [manifest] = events["MANIFEST_PUSH"]
    c = tag["contents"]
    assert c["namespace"] == "alice" and c["repository"] == "web" and c["tag"] == "v1"
    assert c["digest"] == image.manifest_digest
    assert c["imageName"] == f"{srv.host}/alice/web:v1"
    assert c["os"] == "linux" and c["architecture"] == "amd64" and c["author"] == "alice"
    assert RFC3339.match(c["pushedAt"]) and RFC3339.match(tag["createdAt"])
    assert tag["location"] == "/repositories/alice/web/tags/v1"
    m = manifest["contents"]
    assert m["imageName"] == f"{srv.host}/alice/web@{image.manifest_digest}"
    assert m["digest"] == image.manifest_digest and m["author"] == "alice"
    assert "tag" not in m

    pull(srv.host, "alice/web:v1", f"oci:{tmp_path / 'out'}:v1", ("alice", "password-123"))
    settle(rx, "/web", 4)
    events = by_type(rx, "/web")
    assert len(events["TAG_PULL"]) == 1 and len(events["MANIFEST_PULL"]) == 1
    assert events["TAG_PULL"][0]["contents"]["author"] == "alice"
    assert RFC3339.match(events["TAG_PULL"][0]["contents"]["pulledAt"])

    with srv.client(auth=("alice", "password-123")) as client:
        resp = client.delete(f"/v2/alice/web/manifests/{image.manifest_digest}")
        assert resp.status_code in (202, 401), resp.text
    if resp.status_code == 202:
        settle(rx, "/web", 5)
        events = by_type(rx, "/web")
        assert len(events["MANIFEST_DELETE"]) == 1
        assert RFC3339.match(events["MANIFEST_DELETE"][0]["contents"]["deletedAt"])


def test_image_index_gives_one_tag_push(srv: RunningServer, rx: Receiver, tmp_path: Path) -> None:
    seed.repo(srv, "alice", "multi")
    subscribe_all(srv, rx, "alice/multi", "/multi")
    index = build_multiplatform(tmp_path / "idx")
    push(
        f"oci:{index.layout}:latest",
        srv.host,
        "alice/multi:v1",
        ("alice", "password-123"),
        "--all",
    )
    rx.wait_for(1, "/multi", timeout=30)
    time.sleep(1.0)
    tag_pushes = by_type(rx, "/multi").get("TAG_PUSH", [])
    assert len(tag_pushes) == 1
    assert tag_pushes[0]["contents"]["digest"] == index.manifest_digest
    assert tag_pushes[0]["contents"]["os"] == "" and tag_pushes[0]["contents"]["architecture"] == ""
