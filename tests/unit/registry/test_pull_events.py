"""When a manifest pull records TAG_PULL/MANIFEST_PULL events (DOCKYARD_PULL_EVENTS): by
default only while a live subscription of those types could match the repository (its key,
its namespace's or a global one), every pull with `always`; and pull counts, which every pull
adds in memory and the recorder writes on its flush."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, update

from dockyard.db.migrate import upgrade
from dockyard.events.models import OutboxEvent
from dockyard.registry import preload
from dockyard.registry.pulls import recorder_for
from dockyard.repos.models import Repository
from dockyard.webhooks.models import Subscription
from tests.fakes.inprocess import InProcess, inprocess_app

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


async def _upload(client: httpx.AsyncClient, repo: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    r = await client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data)
    assert r.status_code == 201, r.text
    return digest


async def _push(client: httpx.AsyncClient, repo: str, tag: str) -> str:
    config = json.dumps({"os": "linux", "architecture": "amd64", "rootfs": {}}).encode()
    layer = b"a layer of " + repo.encode()
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": await _upload(client, repo, config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": await _upload(client, repo, layer),
                "size": len(layer),
            }
        ],
    }
    body = json.dumps(doc).encode()
    r = await client.put(
        f"/v2/{repo}/manifests/{tag}", content=body, headers={"Content-Type": OCI_MANIFEST}
    )
    assert r.status_code == 201, r.text
    return "sha256:" + hashlib.sha256(body).hexdigest()


async def _pull(app: InProcess, repo: str, ref: str) -> None:
    r = await app.client.get(f"/v2/{repo}/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
    assert r.status_code == 200, r.text


async def _pull_events(app: InProcess, repo: str) -> list[str]:
    async with app.services.session() as session:
        types = await session.scalars(
            select(OutboxEvent.type)
            .where(OutboxEvent.repository_key == repo, OutboxEvent.type.like("%_PULL"))
            .order_by(OutboxEvent.seq)
        )
        return list(types)


async def _subscribe(app: InProcess, event_type: str, key: str, *, inactive: bool = False) -> str:
    async with app.services.session() as session:
        sub = Subscription(
            type=event_type,
            event_type=event_type,
            key=key,
            endpoint="https://hooks.example.com/pulls",
            author_id="admin",
            secret="whsec_test",
            inactive=inactive,
        )
        session.add(sub)
        await session.commit()
        return sub.id


async def _pulls(app: InProcess, repo: str) -> int:
    await recorder_for(app.services.engine).flush_counts()
    ns, name = repo.split("/")
    async with app.services.session() as session:
        pulls = await session.scalar(
            select(Repository.pulls).where(Repository.namespace == ns, Repository.name == name)
        )
        return int(pulls or 0)


# (type, key, inactive) of one subscription -> whether pulls of admin/app are recorded.
SUBSCRIPTIONS = [
    ("TAG_PULL", "admin/app", False, True),
    ("MANIFEST_PULL", "admin/app", False, True),
    ("TAG_PULL", "admin", False, True),  # the namespace's key
    ("MANIFEST_PULL", "", False, True),  # global
    ("TAG_PULL", "admin/app", True, False),  # inactive
    ("TAG_PUSH", "admin/app", False, False),  # another type
    ("TAG_PULL", "admin/other", False, False),  # another repository
    ("TAG_PULL", "other", False, False),  # another namespace
    ("TAG_PULL", "admin/app/x", False, False),
]


@pytest.mark.parametrize(("event_type", "key", "inactive", "recorded"), SUBSCRIPTIONS)
async def test_pulls_are_recorded_while_a_subscription_may_consume_them(
    tmp_path: Path, database_url: str, event_type: str, key: str, inactive: bool, recorded: bool
) -> None:
    async with inprocess_app(tmp_path / "data", database_url) as app:
        digest = await _push(app.client, "admin/app", "v1")
        await _pull(app, "admin/app", "v1")
        assert await _pull_events(app, "admin/app") == []
        await _subscribe(app, event_type, key, inactive=inactive)
        await _pull(app, "admin/app", "v1")
        await _pull(app, "admin/app", digest)
        expected = ["MANIFEST_PULL", "TAG_PULL", "MANIFEST_PULL"] if recorded else []
        assert await _pull_events(app, "admin/app") == expected
        # Every pull counts, recorded or not.
        assert await _pulls(app, "admin/app") == 3


async def test_a_deactivated_subscription_stops_the_recording(
    tmp_path: Path, database_url: str
) -> None:
    async with inprocess_app(tmp_path / "data", database_url) as app:
        await _push(app.client, "admin/app", "v1")
        sub_id = await _subscribe(app, "TAG_PULL", "admin/app")
        await _pull(app, "admin/app", "v1")
        async with app.services.session() as session:
            await session.execute(
                update(Subscription).where(Subscription.id == sub_id).values(inactive=True)
            )
            await session.commit()
        await _pull(app, "admin/app", "v1")
        assert await _pull_events(app, "admin/app") == ["MANIFEST_PULL", "TAG_PULL"]


async def test_always_records_every_pull(tmp_path: Path, database_url: str) -> None:
    async with inprocess_app(tmp_path / "data", database_url, pull_events="always") as app:
        digest = await _push(app.client, "admin/app", "v1")
        await _pull(app, "admin/app", "v1")
        await _pull(app, "admin/app", digest)
        assert await _pull_events(app, "admin/app") == [
            "MANIFEST_PULL",
            "TAG_PULL",
            "MANIFEST_PULL",
        ]
        async with app.services.session() as session:
            row = await session.scalar(
                select(OutboxEvent.payload).where(OutboxEvent.type == "TAG_PULL")
            )
            assert row is not None and row["contents"]["author"] == "admin"
            assert row["contents"]["tag"] == "v1" and row["contents"]["digest"] == digest
            assert await session.scalar(select(func.count()).select_from(Subscription)) == 0
        assert await _pulls(app, "admin/app") == 2


def test_the_subscription_check_is_an_index_search(tmp_path: Path) -> None:
    """The EXISTS the pull's SELECT carries searches ix_webhook_subscriptions_match (covering),
    never scans the subscriptions (SQLite's plan; PostgreSQL has the same index)."""
    path = tmp_path / "plan.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    params = {"ref": "v1", "ns": "a", "name": "b", "full": "a/b", "inactive": False}
    with sqlite3.connect(path) as conn:
        plan = [
            row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + preload._PULL_BY_TAG, params)
        ]
    subscription_steps = [step for step in plan if " s " in f" {step} "]
    assert subscription_steps, plan
    assert all(
        "USING COVERING INDEX ix_webhook_subscriptions_match" in s for s in subscription_steps
    )
