"""Pruning in process: the policies API with the Terraform provider's bodies (status codes and the
fields and types its client decodes), 400 INVALID_PRUNING_POLICY naming the rule, the test
endpoint, a run deleting exactly the matching tags with one TAG_DELETE each (never in a repository
with immutable tags), on push through the pruning cursor and on the schedule."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from dockyard.events import cursors
from dockyard.events.models import OutboxEvent
from dockyard.policies.pruning_service import prune_all
from dockyard.policies.pruning_worker import PruningWorker, consume
from tests.fakes.inprocess import InProcess, inprocess_app
from tests.unit.policies.test_promotion import image, push

PREFIX = "/api/v0/repositories/admin/dev/pruningPolicies"
TAG_V = {"field": "tag", "operator": "sw", "values": ["v"]}
# The Terraform provider's msr_pruning_policy body (CreatePruningPolicy: enabled, rules).
TF_BODY: dict[str, Any] = {"enabled": True, "rules": [TAG_V]}


@pytest.fixture(autouse=True)
def no_settling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cursors, "SETTLE", timedelta(0))


@pytest.fixture
async def app(tmp_path: Path, database_url: str) -> AsyncIterator[InProcess]:
    async with inprocess_app(tmp_path / "data", database_url) as running:
        for name in ("dev", "other"):
            r = await running.client.post("/api/v0/repositories/admin", json={"name": name})
            assert r.status_code == 201, r.text
        yield running


async def tags(app: InProcess, repo: str = "admin/dev") -> list[str]:
    r = await app.client.get(f"/api/v0/repositories/{repo}/tags")
    assert r.status_code == 200, r.text
    return sorted(t["name"] for t in r.json())


async def tag_deletes(app: InProcess) -> list[dict[str, Any]]:
    async with app.services.session() as session:
        rows = await session.scalars(
            select(OutboxEvent.payload)
            .where(OutboxEvent.type == "TAG_DELETE")
            .order_by(OutboxEvent.seq)
        )
        return [dict(row) for row in rows]


async def drain(app: InProcess) -> None:
    for _ in range(20):
        async with app.services.session() as session:
            read = await consume(session, app.services.settings.registry_host)
            await session.commit()
        if not read:
            return
    raise AssertionError("the pruning worker kept finding events")


async def push_tags(app: InProcess, tmp_path: Path, repo: str, *names: str) -> None:
    for name in names:
        await push(app, repo, name, image(tmp_path, f"{repo.replace('/', '-')}-{name}"))


def assert_tf_policy(body: Any) -> None:
    """What the provider's ResponsePruningPolicy decodes: id string, enabled bool, rules."""
    assert isinstance(body["id"], str) and body["id"]
    assert isinstance(body["enabled"], bool)
    for rule in body["rules"]:
        assert isinstance(rule["field"], str) and isinstance(rule["operator"], str)
        assert all(isinstance(v, str) for v in rule["values"])
    assert body["repository"] == "admin/dev"
    assert "lastPrunedAt" in body


async def test_terraform_provider_lifecycle(app: InProcess, tmp_path: Path) -> None:
    await push_tags(app, tmp_path, "admin/dev", "v1", "latest")
    r = await app.client.post(PREFIX, params={"initialEvaluation": "false"}, json=TF_BODY)
    assert r.status_code == 201, r.text
    created = r.json()
    assert_tf_policy(created)
    assert created["rules"] == TF_BODY["rules"] and created["enabled"] is True
    assert created["lastPrunedAt"] is None
    assert await tags(app) == ["latest", "v1"]  # initialEvaluation=false: nothing pruned yet

    r = await app.client.get(f"{PREFIX}/{created['id']}")
    assert r.status_code == 200
    assert r.json() == created
    r = await app.client.get(PREFIX)
    assert r.status_code == 200 and [p["id"] for p in r.json()] == [created["id"]]

    changed = {"enabled": False, "rules": [{"field": "tag", "operator": "eq", "values": ["x"]}]}
    r = await app.client.put(
        f"{PREFIX}/{created['id']}", params={"initialEvaluation": "false"}, json=changed
    )
    assert r.status_code == 200, r.text
    assert_tf_policy(r.json())
    assert r.json()["enabled"] is False and r.json()["rules"] == changed["rules"]

    assert (await app.client.delete(f"{PREFIX}/{created['id']}")).status_code == 204
    assert (await app.client.delete(f"{PREFIX}/{created['id']}")).status_code == 204
    r = await app.client.get(f"{PREFIX}/{created['id']}")
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "NO_SUCH_PRUNING_POLICY"
    assert isinstance(r.json()["errors"][0]["message"], str)


async def test_bad_rules_answer_invalid_pruning_policy_naming_the_rule(app: InProcess) -> None:
    bad = {"enabled": True, "rules": [TAG_V, {"field": "tag", "operator": "gte", "values": ["1"]}]}
    r = await app.client.post(PREFIX, json=bad)
    assert r.status_code == 400
    error = r.json()["errors"][0]
    assert error["code"] == "INVALID_PRUNING_POLICY"
    assert "rule 2 (tag gte)" in error["message"]
    r = await app.client.post(PREFIX, json={"enabled": True, "rules": []})
    assert r.status_code == 400 and "at least one rule" in r.json()["errors"][0]["message"]
    r = await app.client.post(PREFIX, json={"enabled": True, "rules": "tag"})
    assert r.json()["errors"][0]["code"] == "INVALID_PRUNING_POLICY"
    r = await app.client.post(PREFIX, content=b"{not json")
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "INVALID_JSON"
    r = await app.client.post(f"{PREFIX}/test", json={"rules": [{"field": "nope"}]})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "INVALID_PRUNING_POLICY"
    r = await app.client.post("/api/v0/repositories/admin/missing/pruningPolicies", json=TF_BODY)
    assert r.status_code == 404
    assert (await app.client.get(PREFIX)).json() == []


async def test_test_lists_what_would_go_and_deletes_nothing(app: InProcess, tmp_path: Path) -> None:
    await push_tags(app, tmp_path, "admin/dev", "v1", "v2", "latest")
    r = await app.client.post(f"{PREFIX}/test", json={"rules": [TAG_V]})
    assert r.status_code == 200, r.text
    listed = r.json()
    assert [t["name"] for t in listed] == ["v1", "v2"]
    assert all(t["digest"].startswith("sha256:") for t in listed)
    assert await tags(app) == ["latest", "v1", "v2"]
    assert await tag_deletes(app) == []


async def test_initial_evaluation_prunes_matching_tags_once_each(
    app: InProcess, tmp_path: Path
) -> None:
    await push_tags(app, tmp_path, "admin/dev", "v1", "v2", "latest")
    await push_tags(app, tmp_path, "admin/other", "v1")
    r = await app.client.post(PREFIX, params={"initialEvaluation": "true"}, json=TF_BODY)
    assert r.status_code == 201, r.text
    assert r.json()["lastPrunedAt"] is not None
    assert await tags(app) == ["latest"]
    assert await tags(app, "admin/other") == ["v1"]
    deletes = await tag_deletes(app)
    assert sorted(e["contents"]["tag"] for e in deletes) == ["v1", "v2"]
    for event in deletes:
        contents = event["contents"]
        assert (contents["namespace"], contents["repository"]) == ("admin", "dev")
        assert contents["author"] == "pruning-policy"
        assert contents["digest"].startswith("sha256:") and contents["deletedAt"]
    # A later run finds nothing more to delete.
    async with app.services.session() as session:
        assert await prune_all(session, app.services.settings.registry_host) == 0
        await session.commit()
    assert len(await tag_deletes(app)) == 2


async def test_a_push_runs_the_repository_policies(app: InProcess, tmp_path: Path) -> None:
    r = await app.client.post(PREFIX, json={"enabled": True, "rules": [TAG_V]})
    assert r.status_code == 201
    await push_tags(app, tmp_path, "admin/dev", "latest", "v1")
    await push_tags(app, tmp_path, "admin/other", "v1")
    await drain(app)
    assert await tags(app) == ["latest"]
    assert await tags(app, "admin/other") == ["v1"]  # not this policy's repository
    assert [e["contents"]["tag"] for e in await tag_deletes(app)] == ["v1"]
    await drain(app)  # its own TAG_DELETE does not run it again
    assert len(await tag_deletes(app)) == 1
    policy = (await app.client.get(PREFIX)).json()[0]
    assert policy["lastPrunedAt"] is not None


async def test_the_schedule_runs_enabled_policies_only(app: InProcess, tmp_path: Path) -> None:
    await push_tags(app, tmp_path, "admin/dev", "v1", "latest")
    await push_tags(app, tmp_path, "admin/other", "v1")
    await drain(app)
    other = "/api/v0/repositories/admin/other/pruningPolicies"
    r = await app.client.post(other, json={"enabled": False, "rules": [TAG_V]})
    assert r.status_code == 201
    r = await app.client.post(PREFIX, json={"enabled": True, "rules": [TAG_V]})
    assert r.status_code == 201
    async with app.services.session() as session:
        assert await prune_all(session, app.services.settings.registry_host) == 1
        await session.commit()
    assert await tags(app) == ["latest"]
    assert await tags(app, "admin/other") == ["v1"]


async def test_a_repository_with_immutable_tags_keeps_them(app: InProcess, tmp_path: Path) -> None:
    r = await app.client.post(
        "/api/v0/repositories/admin", json={"name": "locked", "immutableTags": True}
    )
    assert r.status_code == 201, r.text
    await push_tags(app, tmp_path, "admin/locked", "v1", "latest")
    locked = "/api/v0/repositories/admin/locked/pruningPolicies"
    r = await app.client.post(locked, params={"initialEvaluation": "true"}, json=TF_BODY)
    assert r.status_code == 201, r.text
    assert (await app.client.post(f"{locked}/test", json={"rules": [TAG_V]})).json() == []
    await drain(app)
    async with app.services.session() as session:
        assert await prune_all(session, app.services.settings.registry_host) == 0
        await session.commit()
    assert await tags(app, "admin/locked") == ["latest", "v1"]
    assert await tag_deletes(app) == []


async def test_vulnerability_rules_never_hold_on_an_unscanned_image(
    app: InProcess, tmp_path: Path
) -> None:
    await push_tags(app, tmp_path, "admin/dev", "v1")
    rules = [{"field": "vulnerability_critical", "operator": "gte", "values": ["0"]}]
    r = await app.client.post(f"{PREFIX}/test", json={"rules": rules})
    assert r.status_code == 200 and r.json() == []


async def test_only_repository_admins_manage_pruning(app: InProcess) -> None:
    password = "password-for-tests"
    r = await app.client.post("/enzi/v0/accounts", json={"name": "bob", "password": password})
    assert r.status_code == 201, r.text
    r = await app.client.post(
        "/api/v0/repositories/admin", json={"name": "pub", "visibility": "public"}
    )
    assert r.status_code == 201
    bob = ("bob", password)
    pub = "/api/v0/repositories/admin/pub/pruningPolicies"
    assert (await app.client.post(pub, json=TF_BODY, auth=bob)).status_code == 403
    assert (await app.client.get(pub, auth=bob)).status_code == 403
    assert (await app.client.post(f"{pub}/test", json=TF_BODY, auth=bob)).status_code == 403
    assert (await app.client.post(PREFIX, json=TF_BODY, auth=bob)).status_code == 404
    r = await app.client.post(pub, json=TF_BODY, auth=None)
    assert r.status_code == 401
    assert json.loads(r.content)["errors"][0]["code"] == "NOT_AUTHENTICATED"


async def test_the_tag_pruning_job_runs_every_enabled_policy(
    app: InProcess, tmp_path: Path
) -> None:
    await push_tags(app, tmp_path, "admin/dev", "v1", "latest")
    await drain(app)
    r = await app.client.post(PREFIX, json=TF_BODY)
    assert r.status_code == 201
    r = await app.client.post("/api/v0/jobs", json={"action": "tag_pruning"})
    assert r.status_code == 202, r.text
    assert r.json()["action"] == "tag_pruning" and isinstance(r.json()["id"], str)
    assert await tags(app) == ["latest"]
    assert [e["contents"]["tag"] for e in await tag_deletes(app)] == ["v1"]
    r = await app.client.post("/api/v0/jobs", json={"action": "nope"})
    assert r.status_code == 400


async def test_the_worker_runs_the_schedule_when_it_is_due(app: InProcess, tmp_path: Path) -> None:
    await push_tags(app, tmp_path, "admin/dev", "v1", "latest")
    worker = PruningWorker(app.services)
    assert worker.interval == app.services.settings.pruning_interval
    await worker.step()  # reads the pushes: no policy yet, nothing goes
    r = await app.client.post(PREFIX, json=TF_BODY)
    assert r.status_code == 201
    await worker.step()  # not due yet
    assert await tags(app) == ["latest", "v1"]
    worker.next_run = 0.0
    await worker.step()
    assert await tags(app) == ["latest"]
    assert worker.next_run > 0.0
