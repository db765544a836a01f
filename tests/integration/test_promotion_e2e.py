"""Promotion end to end on the real server: by tag pattern after a skopeo push, by vulnerability
threshold after a scan, by a manual call; a loop (dev → prod → dev) stopped; PROMOTION and the
target's TAG_PUSH each arriving exactly once at a real receiver; the promoted image pulled back
with skopeo byte-identical.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.fakes import osv
from tests.fakes.oci import build_image, build_multiplatform, make_layer
from tests.fakes.receiver import Receiver
from tests.fakes.scan_images import build_debian_image
from tests.fakes.skopeo import pull, push

pytestmark = pytest.mark.e2e

ENV = {"DOCKYARD_WEBHOOK_BLOCKED_NETWORKS": ""}


def subscribe(c: httpx.Client, type_: str, endpoint: str, key: str) -> None:
    r = c.post("/api/v0/webhooks", json={"type": type_, "endpoint": endpoint, "key": key})
    assert r.status_code == 201, r.text


def create_repos(c: httpx.Client, *names: str) -> None:
    for name in names:
        r = c.post("/api/v0/repositories/admin", json={"name": name})
        assert r.status_code == 201, r.text


def add_policy(
    c: httpx.Client, source: str, target: str, rules: list[Any], template: str
) -> dict[str, Any]:
    body = {"rules": rules, "targetRepository": target, "tagTemplate": template, "enabled": True}
    r = c.post(f"/api/v0/repositories/{source}/promotionPolicies", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_promotion_by_tag_manual_loop_and_webhooks(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    srv = server_factory(ENV)
    with Receiver() as rx, srv.client(auth=srv.admin_auth) as c:
        create_repos(c, "dev", "prod")
        subscribe(c, "PROMOTION", rx.url("/promo"), "admin/dev")
        subscribe(c, "TAG_PUSH", rx.url("/push"), "admin/prod")
        policy = add_policy(
            c,
            "admin/dev",
            "admin/prod",
            [{"field": "tag", "operator": "sw", "values": ["v"]}],
            "%n",
        )
        add_policy(c, "admin/prod", "admin/dev", [], "%n-back")  # would loop without the chain

        image = build_image(tmp_path / "app", [make_layer({"app.txt": b"release one\n"})], "v1")
        push(image.ref("v1"), srv.host, "admin/dev:v1", srv.admin_auth)
        [promo] = rx.wait_for(1, "/promo", timeout=60)
        contents = promo.json["contents"]
        assert promo.json["type"] == "PROMOTION"
        assert (contents["namespace"], contents["repository"], contents["tag"]) == (
            "admin",
            "prod",
            "v1",
        )
        assert contents["digest"] == image.manifest_digest
        assert contents["promotion"] == {
            "promotionPolicyID": policy["id"],
            "sourceRepository": "admin/dev",
            "sourceTag": "v1",
            "targetRepository": "admin/prod",
            "targetTag": "v1",
        }
        [tag_push] = rx.wait_for(1, "/push", timeout=60)
        assert tag_push.json["contents"]["tag"] == "v1"
        listed = c.get("/api/v0/repositories/admin/dev/promotionPolicies").json()
        assert listed[0]["lastPromotedAt"] is not None

        r = c.post(
            "/api/v0/repositories/admin/dev/tags/v1/promotion",
            json={"targetRepository": "admin/prod", "targetTag": "manual"},
        )
        assert r.status_code == 201, r.text
        rx.wait_for(2, "/promo", timeout=60)
        rx.wait_for(2, "/push", timeout=60)

        # A sentinel: once a later push's webhook arrived, any duplicate would have too.
        subscribe(c, "TAG_PUSH", rx.url("/sentinel"), "admin/dev")
        push(image.ref("v1"), srv.host, "admin/dev:latest", srv.admin_auth)
        rx.wait_for(1, "/sentinel", timeout=60)
        assert [h.json["contents"]["tag"] for h in rx.received("/promo")] == ["v1", "manual"]
        assert sorted(h.json["contents"]["tag"] for h in rx.received("/push")) == ["manual", "v1"]
        # The loop stopped: prod's tags came from dev, so nothing went back.
        assert c.get("/v2/admin/dev/manifests/v1-back").status_code == 404
        assert [h.json["contents"]["tag"] for h in rx.received("/sentinel")] == ["latest"]

    out = tmp_path / "pulled"
    pull(srv.host, "admin/prod:v1", f"oci:{out}:v1", srv.admin_auth)
    blobs = out / "blobs" / "sha256"
    assert (blobs / image.manifest_digest.split(":")[1]).read_bytes() == image.manifest_bytes
    for digest in [image.config_digest, *image.layer_digests]:
        name = digest.split(":")[1]
        assert (blobs / name).read_bytes() == (
            image.layout / "blobs" / "sha256" / name
        ).read_bytes()
    index = json.loads((out / "index.json").read_text())
    assert index["manifests"][0]["digest"] == image.manifest_digest


def test_promotion_by_vulnerability_threshold_after_a_scan(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    srv = server_factory(ENV)
    critical = osv.counts(osv.EXPECTED_DEBIAN)["critical"]
    assert critical > 0
    with Receiver() as rx, srv.client(auth=srv.admin_auth) as c:
        create_repos(c, "dev", "prod", "qa")
        subscribe(c, "PROMOTION", rx.url("/promo"), "admin/dev")
        subscribe(c, "SCAN_COMPLETED", rx.url("/scan"), "admin/dev")
        bundle = osv.write_zip(tmp_path / "all.zip")
        with bundle.open("rb") as f:
            r = c.put(
                "/api/v0/imagescan/scan/update",
                files={"file": (bundle.name, f, "application/zip")},
            )
        assert r.status_code == 202, r.text
        threshold = str(critical)
        ok = [{"field": "vulnerability_critical", "operator": "lte", "values": [threshold]}]
        too_strict = [{"field": "vulnerability_critical", "operator": "lt", "values": [threshold]}]
        add_policy(c, "admin/dev", "admin/prod", ok, "%n-scanned")
        add_policy(c, "admin/dev", "admin/qa", too_strict, "%n")

        image = build_debian_image(tmp_path / "debian", "1.0")
        push(image.image.ref("1.0"), srv.host, "admin/dev:1.0", srv.admin_auth)
        rx.wait_for(1, "/scan", timeout=180)
        [promo] = rx.wait_for(1, "/promo", timeout=60)
        assert promo.json["contents"]["tag"] == "1.0-scanned"
        assert promo.json["contents"]["repository"] == "prod"
        # Both policies were decided on the same SCAN_COMPLETED: qa's did not hold.
        assert c.get("/v2/admin/qa/manifests/1.0").status_code == 404
        r = c.get(
            "/v2/admin/prod/manifests/1.0-scanned",
            headers={"accept": "application/vnd.oci.image.manifest.v1+json"},
        )
        assert r.status_code == 200
        assert r.headers["docker-content-digest"] == image.image.manifest_digest
        assert len(rx.received("/promo")) == 1


def test_a_two_platform_index_is_promoted_with_its_children(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    srv = server_factory(ENV)
    index = build_multiplatform(tmp_path / "multi", tag="v1")
    with srv.client(auth=srv.admin_auth) as c:
        create_repos(c, "dev", "prod")
        push(index.ref("v1"), srv.host, "admin/dev:v1", srv.admin_auth, "--all")
        r = c.post(
            "/api/v0/repositories/admin/dev/tags/v1/promotion",
            json={"targetRepository": "admin/prod", "targetTag": "v1"},
        )
        assert r.status_code == 201, r.text
        assert r.json()["digest"] == index.manifest_digest
    out = tmp_path / "pulled"
    pull(srv.host, "admin/prod:v1", f"oci:{out}:v1", srv.admin_auth, "--all")
    blobs = out / "blobs" / "sha256"
    assert (blobs / index.manifest_digest.split(":")[1]).read_bytes() == index.manifest_bytes
    for child in index.layer_digests:  # the children's manifests
        name = child.split(":")[1]
        assert (blobs / name).read_bytes() == (
            index.layout / "blobs" / "sha256" / name
        ).read_bytes()
