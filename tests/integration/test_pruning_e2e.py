"""Pruning end to end on the real server: a policy created, read, replaced and deleted with the
Terraform provider's `msr_pruning_policy` calls and bodies; tags pushed with skopeo; a push runs
the policy, which deletes exactly the matching tags; each TAG_DELETE arrives once at a real
receiver; a repository with immutable tags keeps its tags.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.fakes.oci import build_image, make_layer
from tests.fakes.receiver import Receiver
from tests.fakes.skopeo import push

pytestmark = pytest.mark.e2e

ENV = {"DOCKYARD_WEBHOOK_BLOCKED_NETWORKS": ""}
# internal/client/pruning_policy.go: CreatePruningPolicy{Enabled, Rules[{Field, Operator, Values}]}.
TF_BODY: dict[str, Any] = {
    "enabled": True,
    "rules": [{"field": "tag", "operator": "sw", "values": ["v"]}],
}


def subscribe(c: httpx.Client, type_: str, endpoint: str, key: str) -> None:
    r = c.post("/api/v0/webhooks", json={"type": type_, "endpoint": endpoint, "key": key})
    assert r.status_code == 201, r.text


def decoded(body: Any) -> dict[str, Any]:
    """ResponsePruningPolicy as the provider decodes it: ID string, Enabled bool, Rules."""
    assert isinstance(body["id"], str) and body["id"]
    assert isinstance(body["enabled"], bool)
    for rule in body["rules"]:
        assert isinstance(rule["field"], str) and isinstance(rule["operator"], str)
        assert isinstance(rule["values"], list)
        assert all(isinstance(value, str) for value in rule["values"])
    return {"id": body["id"], "enabled": body["enabled"], "rules": body["rules"]}


def tags(c: httpx.Client, repo: str) -> list[str]:
    r = c.get(f"/api/v0/repositories/{repo}/tags")
    assert r.status_code == 200, r.text
    return sorted(t["name"] for t in r.json())


def tf_lifecycle(c: httpx.Client, repo: str) -> str:
    """Create, read (one and all) and update as the provider does; returns the policy id."""
    base = f"/api/v0/repositories/{repo}/pruningPolicies"
    r = c.post(f"{base}?initialEvaluation=false", json=TF_BODY)
    assert r.status_code == 201, r.text  # the provider accepts any status below 400
    created = decoded(r.json())
    assert created["enabled"] is True and created["rules"] == TF_BODY["rules"]
    r = c.get(f"{base}/{created['id']}")
    assert r.status_code == 200 and decoded(r.json()) == created
    r = c.get(base)
    assert r.status_code == 200 and [decoded(p) for p in r.json()] == [created]
    r = c.put(f"{base}/{created['id']}?initialEvaluation=false", json=TF_BODY)
    assert r.status_code == 200 and decoded(r.json()) == created
    return str(created["id"])


def test_terraform_policy_prunes_on_push_and_tag_deletes_arrive_once(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    srv = server_factory(ENV, start=False)
    srv.start(timeout=300)  # a loaded machine starts it slowly
    image = build_image(tmp_path / "app", [make_layer({"app.txt": b"prune me\n"})], "v1")
    src = image.ref("v1")
    with Receiver() as rx, srv.client(auth=srv.admin_auth) as c:
        for body in ({"name": "dev"}, {"name": "locked", "immutableTags": True}):
            r = c.post("/api/v0/repositories/admin", json=body)
            assert r.status_code == 201, r.text
        subscribe(c, "TAG_DELETE", rx.url("/dev"), "admin/dev")
        subscribe(c, "TAG_DELETE", rx.url("/locked"), "admin/locked")
        for tag in ("v1", "v2", "latest"):
            push(src, srv.host, f"admin/dev:{tag}", srv.admin_auth)
        for tag in ("v1", "latest"):
            push(src, srv.host, f"admin/locked:{tag}", srv.admin_auth)

        policy_id = tf_lifecycle(c, "admin/dev")
        tf_lifecycle(c, "admin/locked")
        assert tags(c, "admin/dev") == ["latest", "v1", "v2"]  # initialEvaluation=false
        r = c.post("/api/v0/repositories/admin/dev/pruningPolicies/test", json=TF_BODY)
        assert r.status_code == 200
        assert [(t["name"], t["digest"]) for t in r.json()] == [
            ("v1", image.manifest_digest),
            ("v2", image.manifest_digest),
        ]

        # A push runs the repository's policies: v1, v2 and the new v3 go, latest stays.
        push(src, srv.host, "admin/dev:v3", srv.admin_auth)
        push(src, srv.host, "admin/locked:v3", srv.admin_auth)
        received = rx.wait_for(3, "/dev", timeout=120)
        assert sorted(h.json["contents"]["tag"] for h in received) == ["v1", "v2", "v3"]
        for hit in received:
            assert hit.json["type"] == "TAG_DELETE"
            contents = hit.json["contents"]
            assert (contents["namespace"], contents["repository"]) == ("admin", "dev")
            assert contents["digest"] == image.manifest_digest
            assert contents["author"] == "pruning-policy"

        # A sentinel: once a later push's webhook arrived, a duplicate or a late prune would too.
        subscribe(c, "TAG_PUSH", rx.url("/sentinel"), "admin/dev")
        push(src, srv.host, "admin/dev:final", srv.admin_auth)
        rx.wait_for(1, "/sentinel", timeout=120)
        assert sorted(h.json["contents"]["tag"] for h in rx.received("/dev")) == ["v1", "v2", "v3"]
        assert rx.received("/locked") == []
        assert tags(c, "admin/dev") == ["final", "latest"]
        assert tags(c, "admin/locked") == ["latest", "v1", "v3"]
        assert c.get("/v2/admin/dev/manifests/v1").status_code == 404

        base = "/api/v0/repositories/admin/dev/pruningPolicies"
        r = c.get(f"{base}/{policy_id}")
        assert r.status_code == 200 and isinstance(r.json()["lastPrunedAt"], str)
        assert c.delete(f"{base}/{policy_id}").status_code == 204
        r = c.get(f"{base}/{policy_id}")
        assert r.status_code == 404
        assert r.json()["errors"][0]["code"] == "NO_SUCH_PRUNING_POLICY"
