"""Promotion in process: the policies API (MSR's bodies, 400 INVALID_PROMOTION_POLICY naming the
rule), the initial evaluation, the engine consuming TAG_PUSH through its own cursor, a copy by
reference (blobs linked, not copied), exactly one PROMOTION per promotion, a loop stopped, and a
manual promotion."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from dockyard.clock import utcnow
from dockyard.events import cursors
from dockyard.events.bus import record
from dockyard.events.models import OutboxCursor, OutboxEvent
from dockyard.events.pipeline import ScanSummary, scan_completed_event
from dockyard.events.types import ImageRef
from dockyard.policies.worker import consume
from dockyard.webhooks.retention import prune_events
from tests.fakes.inprocess import InProcess, inprocess_app
from tests.fakes.oci import OCI_MANIFEST, BuiltImage, build_image, make_layer


@pytest.fixture
async def app(tmp_path: Path, database_url: str) -> AsyncIterator[InProcess]:
    async with inprocess_app(tmp_path / "data", database_url) as running:
        for name in ("dev", "prod"):
            r = await running.client.post("/api/v0/repositories/admin", json={"name": name})
            assert r.status_code == 201, r.text
        yield running


async def push(app: InProcess, repo: str, tag: str, image: BuiltImage) -> None:
    doc = json.loads(image.manifest_bytes)
    blobs = image.layout / "blobs" / "sha256"
    for ref in [doc["config"], *doc["layers"]]:
        data = (blobs / ref["digest"].split(":")[1]).read_bytes()
        r = await app.client.post(
            f"/v2/{repo}/blobs/uploads/", params={"digest": ref["digest"]}, content=data
        )
        assert r.status_code == 201, r.text
    r = await app.client.put(
        f"/v2/{repo}/manifests/{tag}",
        content=image.manifest_bytes,
        headers={"content-type": OCI_MANIFEST},
    )
    assert r.status_code == 201, r.text


def image(tmp_path: Path, name: str) -> BuiltImage:
    return build_image(tmp_path / name, [make_layer({"f.txt": name.encode()})])


async def drain(app: InProcess) -> None:
    for _ in range(20):
        async with app.services.session() as session:
            read = await consume(session, app.services.settings.registry_host)
            await session.commit()
        if not read:
            return
    raise AssertionError("the promotion engine kept finding events")


async def events(app: InProcess, type_: str) -> list[dict[str, Any]]:
    async with app.services.session() as session:
        rows = await session.scalars(
            select(OutboxEvent.payload).where(OutboxEvent.type == type_).order_by(OutboxEvent.seq)
        )
        return list(rows)


def policy(target: str, rules: list[Any], template: str = "%n") -> dict[str, Any]:
    return {"rules": rules, "targetRepository": target, "tagTemplate": template, "enabled": True}


TAG_V = {"field": "tag", "operator": "sw", "values": ["v"]}
PREFIX = "/api/v0/repositories/admin/dev/promotionPolicies"


async def test_bad_rules_answer_invalid_promotion_policy_naming_the_rule(app: InProcess) -> None:
    bad = [TAG_V, {"field": "tag", "operator": "gte", "values": ["1"]}]
    r = await app.client.post(PREFIX, json=policy("admin/prod", bad))
    assert r.status_code == 400
    body = r.json()
    assert body["errors"][0]["code"] == "INVALID_PROMOTION_POLICY"
    assert "rule 2 (tag gte)" in json.dumps(body)
    r = await app.client.post(PREFIX, json=policy("admin/prod", [TAG_V], "%q"))
    assert r.status_code == 400
    r = await app.client.post(PREFIX, json=policy("admin/missing", [TAG_V]))
    assert r.status_code == 404


async def test_crud_and_initial_evaluation(app: InProcess, tmp_path: Path) -> None:
    one = image(tmp_path, "one")
    await push(app, "admin/dev", "v1", one)
    await push(app, "admin/dev", "latest", one)
    await drain(app)  # nothing to promote yet: no policy
    r = await app.client.post(PREFIX, json=policy("admin/prod", [TAG_V], "%n-prod"))
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["sourceRepository"] == "admin/dev"
    assert created["targetRepository"] == "admin/prod"
    assert created["lastPromotedAt"] is not None
    r = await app.client.get("/v2/admin/prod/manifests/v1-prod", headers={"accept": OCI_MANIFEST})
    assert r.status_code == 200
    assert r.content == one.manifest_bytes
    assert (await app.client.get("/v2/admin/prod/manifests/latest-prod")).status_code == 404
    for digest in one.layer_digests:
        assert (await app.client.head(f"/v2/admin/prod/blobs/{digest}")).status_code == 200
    promotions = await events(app, "PROMOTION")
    assert len(promotions) == 1
    assert promotions[0]["contents"]["promotion"]["sourceTag"] == "v1"
    assert promotions[0]["contents"]["tag"] == "v1-prod"
    pushes = [e["contents"]["tag"] for e in await events(app, "TAG_PUSH")]
    assert pushes.count("v1-prod") == 1
    listed = (await app.client.get(PREFIX)).json()
    assert [p["id"] for p in listed] == [created["id"]]
    as_target = "/api/v0/repositories/admin/prod/promotionPolicies"
    assert [
        p["id"] for p in (await app.client.get(as_target, params={"source": "false"})).json()
    ] == [created["id"]]
    assert (await app.client.get(as_target)).json() == []
    body = policy("admin/prod", [TAG_V], "%n-prod") | {"enabled": False}
    r = await app.client.put(f"{PREFIX}/{created['id']}", json=body)
    assert r.status_code == 200 and r.json()["enabled"] is False
    assert (await app.client.delete(f"{PREFIX}/{created['id']}")).status_code == 204
    assert (await app.client.delete(f"{PREFIX}/{created['id']}")).status_code == 204
    assert (await app.client.get(f"{PREFIX}/{created['id']}")).status_code == 404


async def test_a_push_is_promoted_once_and_a_loop_stops(app: InProcess, tmp_path: Path) -> None:
    r = await app.client.post(
        PREFIX, json=policy("admin/prod", [TAG_V]), params={"initialEvaluation": "false"}
    )
    assert r.status_code == 201
    back = "/api/v0/repositories/admin/prod/promotionPolicies"
    r = await app.client.post(back, json=policy("admin/dev", [], "%n-back"))
    assert r.status_code == 201
    await push(app, "admin/dev", "v2", image(tmp_path, "two"))
    await drain(app)
    await drain(app)
    promotions = await events(app, "PROMOTION")
    assert [
        (p["contents"]["promotion"]["sourceRepository"], p["contents"]["tag"]) for p in promotions
    ] == [("admin/dev", "v2")]
    r = await app.client.get("/v2/admin/prod/manifests/v2")
    assert r.status_code == 200
    # prod:v2 came from dev: the policy back into dev does not apply to it.
    assert (await app.client.get("/v2/admin/dev/manifests/v2-back")).status_code == 404
    # A tag pushed to prod itself is promoted back into dev (and from there not again to prod).
    await push(app, "admin/prod", "v9", image(tmp_path, "nine"))
    await drain(app)
    assert (await app.client.get("/v2/admin/dev/manifests/v9-back")).status_code == 200
    assert (await app.client.get("/v2/admin/prod/manifests/v9-back")).status_code == 404
    assert len(await events(app, "PROMOTION")) == 2


async def test_manual_promotion(app: InProcess, tmp_path: Path) -> None:
    one = image(tmp_path, "one")
    await push(app, "admin/dev", "latest", one)
    r = await app.client.post(
        "/api/v0/repositories/admin/dev/tags/latest/promotion",
        json={"targetRepository": "admin/prod", "targetTag": "release"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["digest"] == one.manifest_digest
    r = await app.client.get("/v2/admin/prod/manifests/release", headers={"accept": OCI_MANIFEST})
    assert r.content == one.manifest_bytes
    r = await app.client.post(
        "/api/v0/repositories/admin/dev/tags/nope/promotion",
        json={"targetRepository": "admin/prod", "targetTag": "x"},
    )
    assert r.status_code == 404
    r = await app.client.post(
        "/api/v0/repositories/admin/dev/tags/latest/promotion",
        json={"targetRepository": "admin/prod", "targetTag": "-bad"},
    )
    assert r.status_code == 400
    assert len(await events(app, "PROMOTION")) == 1


@pytest.fixture(autouse=True)
def no_settling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cursors, "SETTLE", timedelta(0))


async def test_admin_on_the_target_is_needed_for_a_policy_write_for_a_manual_promotion(
    app: InProcess, tmp_path: Path
) -> None:
    password = "password-for-tests"
    r = await app.client.post("/enzi/v0/accounts", json={"name": "bob", "password": password})
    assert r.status_code == 201, r.text
    r = await app.client.post(
        "/api/v0/repositories/admin", json={"name": "pub", "visibility": "public"}
    )
    assert r.status_code == 201, r.text
    bob = ("bob", password)
    r = await app.client.post("/api/v0/repositories/bob", json={"name": "app"}, auth=bob)
    assert r.status_code == 201, r.text
    await push(app, "admin/pub", "v1", image(tmp_path, "one"))
    mine = "/api/v0/repositories/bob/app/promotionPolicies"
    # admin/prod is private: bob cannot even see it.
    r = await app.client.post(mine, json=policy("admin/prod", [TAG_V]), auth=bob)
    assert r.status_code == 404
    # admin/pub is readable, not administrable, by bob.
    r = await app.client.post(mine, json=policy("admin/pub", [TAG_V]), auth=bob)
    assert r.status_code == 403
    # Read on the source is enough to promote into a repository bob may write to.
    r = await app.client.post(
        "/api/v0/repositories/admin/pub/tags/v1/promotion",
        json={"targetRepository": "bob/app", "targetTag": "v1"},
        auth=bob,
    )
    assert r.status_code == 201, r.text
    r = await app.client.post(
        "/api/v0/repositories/admin/pub/tags/v1/promotion",
        json={"targetRepository": "admin/pub", "targetTag": "v2"},
        auth=bob,
    )
    assert r.status_code == 403
    # Policies on admin's repositories are not bob's to manage.
    r = await app.client.post(PREFIX, json=policy("bob/app", [TAG_V]), auth=bob)
    assert r.status_code == 404


async def test_retention_keeps_events_the_promotion_engine_has_not_read(
    app: InProcess, tmp_path: Path
) -> None:
    await push(app, "admin/dev", "v1", image(tmp_path, "one"))
    async with app.services.session() as session:
        old = utcnow() - timedelta(days=90)
        await session.execute(update(OutboxEvent).values(dispatched_at=old, created_at=old))
        last = await session.scalar(select(func.max(OutboxEvent.seq)))
        # Every consumer but promotion has read them.
        await session.execute(
            update(OutboxCursor).where(OutboxCursor.consumer != "promotion").values(seq=last)
        )
        await session.commit()
    async with app.services.session() as session:
        assert await prune_events(session, utcnow() - timedelta(days=30)) == 0
        await session.commit()
    await drain(app)
    async with app.services.session() as session:
        assert await prune_events(session, utcnow() - timedelta(days=30)) > 0
        await session.commit()


async def test_a_scan_completing_after_a_promotion_does_not_promote_twice(
    app: InProcess, tmp_path: Path
) -> None:
    r = await app.client.post(PREFIX, json=policy("admin/prod", [TAG_V]))
    assert r.status_code == 201
    one = image(tmp_path, "one")
    await push(app, "admin/dev", "v1", one)
    await drain(app)
    assert len(await events(app, "PROMOTION")) == 1
    async with app.services.session() as session:
        ref = ImageRef("admin", "dev", one.manifest_digest, "linux", "amd64", "v1")
        summary = ScanSummary(0, 0, 0, 6, utcnow())
        record(session, scan_completed_event("dockyard.test", ref, summary, utcnow()))
        await session.commit()
    await drain(app)
    assert len(await events(app, "SCAN_COMPLETED")) >= 1
    assert len(await events(app, "PROMOTION")) == 1


async def test_a_locked_database_leaves_the_event_for_the_next_step(
    app: InProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    from dockyard.policies import worker

    r = await app.client.post(
        PREFIX, json=policy("admin/prod", [TAG_V]), params={"initialEvaluation": "false"}
    )
    assert r.status_code == 201
    await push(app, "admin/dev", "v3", image(tmp_path, "three"))
    real = worker.evaluate_tag

    async def locked(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(worker, "evaluate_tag", locked)
    async with app.services.session() as session:
        with pytest.raises(OperationalError):
            await consume(session, app.services.settings.registry_host)
        await session.rollback()
    assert await events(app, "PROMOTION") == []
    # Once the database answers again, the same event promotes the tag.
    monkeypatch.setattr(worker, "evaluate_tag", real)
    await drain(app)
    assert [p["contents"]["tag"] for p in await events(app, "PROMOTION")] == ["v3"]
    assert (await app.client.get("/v2/admin/prod/manifests/v3")).status_code == 200


async def test_an_event_that_fails_is_logged_and_skipped_and_the_next_promotes(
    app: InProcess,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from dockyard.policies import worker

    r = await app.client.post(
        PREFIX, json=policy("admin/prod", [TAG_V]), params={"initialEvaluation": "false"}
    )
    assert r.status_code == 201
    await push(app, "admin/dev", "v4", image(tmp_path, "four"))
    await push(app, "admin/dev", "v5", image(tmp_path, "five"))
    real = worker.evaluate_tag

    async def broken_for_v4(session: Any, host: str, repo: Any, tag: Any) -> Any:
        if tag.name == "v4":
            raise ValueError("a policy this engine cannot apply")
        return await real(session, host, repo, tag)

    monkeypatch.setattr(worker, "evaluate_tag", broken_for_v4)
    with caplog.at_level("ERROR", logger="dockyard.policies.worker"):
        await drain(app)
    # v4's failure is logged and passed (not retried for ever); v5, after it, is promoted.
    assert [rec.getMessage() for rec in caplog.records] == ["promotion.event.failed"]
    assert [p["contents"]["tag"] for p in await events(app, "PROMOTION")] == ["v5"]
    assert (await app.client.get("/v2/admin/prod/manifests/v4")).status_code == 404
    assert (await app.client.get("/v2/admin/prod/manifests/v5")).status_code == 200
    async with app.services.session() as session:
        cursor = await session.scalar(
            select(OutboxCursor.seq).where(OutboxCursor.consumer == "promotion")
        )
        last = await session.scalar(select(func.max(OutboxEvent.seq)))
    assert cursor == last
