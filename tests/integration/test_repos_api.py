"""The repositories API over HTTP: every field of MSR's repository object, create / get / patch /
delete, reserved names, paging headers, tags (ListTag with manifest; one Tag per platform of an
index), tag deletion, team access on repositories and namespaces, REPO_EVENTs in the outbox,
and a 400 with the error body for bad input to every field."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from dockyard.events.models import OutboxEvent
from tests.fakes.oci import build_multiplatform
from tests.fakes.server import RunningServer
from tests.fakes.skopeo import push
from tests.integration.accounts_helpers import (
    PASSWORD,
    add_member,
    create_org,
    create_team,
    create_user,
    ok,
    push_image,
)

REPO_FIELDS = {
    "id", "namespace", "namespaceType", "name", "shortDescription", "longDescription",
    "visibility", "scanOnPush", "immutableTags", "enableManifestLists", "pulls", "pushes",
    "tagLimit",
}  # fmt: skip


@pytest.fixture(scope="module")
def admin(module_server: RunningServer) -> Iterator[httpx.Client]:
    with module_server.client(auth=module_server.admin_auth) as client:
        create_user(client, "rita")
        create_user(client, "sam")
        create_org(client, "rorg")
        add_member(client, "rorg", "rita", is_admin=True)
        create_team(client, "rorg", "readers", ["sam"])
        yield client


def _outbox(server: RunningServer) -> list[OutboxEvent]:
    async def read() -> list[OutboxEvent]:
        engine = create_async_engine(server.database_url)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(select(OutboxEvent).order_by(OutboxEvent.seq))
                return [OutboxEvent(**dict(row._mapping)) for row in rows]
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_create_get_patch_delete_with_events(
    module_server: RunningServer, admin: httpx.Client
) -> None:
    with module_server.client(auth=("rita", PASSWORD)) as rita:
        body = {
            "name": "svc",
            "shortDescription": "short",
            "longDescription": "long",
            "visibility": "public",
            "scanOnPush": True,
            "immutableTags": True,
            "enableManifestLists": False,
            "tagLimit": 5,
        }
        created = ok(rita.post("/api/v0/repositories/rorg", json=body), 201).json()
        assert set(created) >= REPO_FIELDS
        assert created["namespaceType"] == "organization"
        assert {k: created[k] for k in body} == body
        assert created["pulls"] == 0 and created["pushes"] == 0
        assert ok(rita.get("/api/v0/repositories/rorg/svc")).json() == created
        again = rita.post("/api/v0/repositories/rorg", json={"name": "svc"})
        assert again.status_code == 400
        assert again.json()["errors"][0]["code"] == "REPOSITORY_EXISTS"
        patched = ok(
            rita.patch(
                "/api/v0/repositories/rorg/svc",
                json={"visibility": "private", "tagLimit": 0, "immutableTags": False},
            )
        ).json()
        assert patched["visibility"] == "private" and patched["tagLimit"] == 0
        assert patched["shortDescription"] == "short"
        rename = rita.patch("/api/v0/repositories/rorg/svc", json={"name": "other"})
        assert rename.status_code == 400
        ok(rita.delete("/api/v0/repositories/rorg/svc"), 204)
        gone = rita.get("/api/v0/repositories/rorg/svc")
        assert gone.status_code == 404
        assert gone.json()["errors"][0]["code"] == "NO_SUCH_REPOSITORY"
    events = [
        e
        for e in _outbox(module_server)
        if e.type == "REPO_EVENT" and e.repository_key == "rorg/svc"
    ]
    kinds = [(e.payload["contents"]["event"], e.payload["contents"]["author"]) for e in events]
    assert kinds == [("REPO_CREATED", "rita"), ("REPO_UPDATED", "rita"), ("REPO_DELETED", "rita")]
    assert events[1].payload["contents"]["data"]["visibility"] == "private"
    assert events[2].payload["contents"]["data"] is None


def test_reserved_and_invalid_names(admin: httpx.Client) -> None:
    for name in ("webhooks", "Upper", "a/b", "-x", "x" * 256):
        response = admin.post("/api/v0/repositories/rorg", json={"name": name})
        assert response.status_code == 400, name
        assert response.json()["errors"][0]["code"] in (
            "INVALID_REPOSITORY_NAME",
            "INVALID_PARAMETERS",
        )
    missing = admin.post("/api/v0/repositories/nobody", json={"name": "x"})
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["code"] == "NO_SUCH_ACCOUNT"


BAD_FIELDS: list[tuple[dict[str, Any], str]] = [
    ({"name": 1}, "name"),
    ({"name": ""}, "name"),
    ({"name": "ok", "shortDescription": 5}, "shortDescription"),
    ({"name": "ok", "shortDescription": "x" * 141}, "shortDescription"),
    ({"name": "ok", "longDescription": False}, "longDescription"),
    ({"name": "ok", "visibility": "secret"}, "visibility"),
    ({"name": "ok", "visibility": 1}, "visibility"),
    ({"name": "ok", "scanOnPush": "true"}, "scanOnPush"),
    ({"name": "ok", "immutableTags": 0}, "immutableTags"),
    ({"name": "ok", "enableManifestLists": "no"}, "enableManifestLists"),
    ({"name": "ok", "tagLimit": -1}, "tagLimit"),
    ({"name": "ok", "tagLimit": "3"}, "tagLimit"),
    ({"name": "ok", "tagLimit": 1.5}, "tagLimit"),
    ({}, "name"),
]


@pytest.mark.parametrize(("body", "field"), BAD_FIELDS)
def test_bad_create_input(admin: httpx.Client, body: dict[str, Any], field: str) -> None:
    response = admin.post("/api/v0/repositories/rorg", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert error["code"] in ("INVALID_PARAMETERS", "INVALID_REPOSITORY_VISIBILITY")
    assert field in str(error.get("detail", "")) + error["message"]


@pytest.mark.parametrize(("body", "field"), [(b, f) for b, f in BAD_FIELDS if f not in ("name",)])
def test_bad_patch_input(admin: httpx.Client, body: dict[str, Any], field: str) -> None:
    ok(admin.post("/api/v0/repositories/rorg", json={"name": "patchme"}), 201, 400)
    body = {k: v for k, v in body.items() if k != "name"}
    response = admin.patch("/api/v0/repositories/rorg/patchme", json=body)
    assert response.status_code == 400, response.text
    assert field in str(response.json()["errors"][0].get("detail", ""))


def test_malformed_json(admin: httpx.Client) -> None:
    response = admin.post(
        "/api/v0/repositories/rorg", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "INVALID_JSON"


def test_paging_headers(admin: httpx.Client) -> None:
    for i in range(5):
        ok(admin.post("/api/v0/repositories/rita", json={"name": f"page{i}"}), 201)
    names: list[str] = []
    start = ""
    while True:
        response = ok(
            admin.get(
                "/api/v0/repositories/rita",
                params={"pageSize": 2, "count": "true", "pageStart": start},
            )
        )
        assert response.headers["x-resource-count"] == "5"
        names += [r["name"] for r in response.json()["repositories"]]
        start = response.headers.get("x-next-page-start", "")
        if not start:
            break
    assert names == [f"page{i}" for i in range(5)]


def test_tags_endpoints(tmp_path: Path, module_server: RunningServer, admin: httpx.Client) -> None:
    ok(admin.post("/api/v0/repositories/rorg", json={"name": "images"}), 201)
    digest = push_image(admin, "rorg/images", "v1", content=b"one")
    multi = build_multiplatform(tmp_path / "multi")
    push(multi.ref(), module_server.host, "rorg/images:multi", module_server.admin_auth, "--all")
    tags = ok(admin.get("/api/v0/repositories/rorg/images/tags")).json()
    by_name = {t["name"]: t for t in tags}
    assert set(by_name) == {"multi", "v1"}
    v1 = by_name["v1"]
    assert {"name", "digest", "author", "createdAt", "updatedAt", "hashMismatch", "inNotary",
            "manifest"} <= set(v1)  # fmt: skip
    assert v1["digest"] == digest and v1["manifest"]["digest"] == digest
    assert v1["manifest"]["os"] == "linux" and v1["manifest"]["architecture"] == "amd64"
    platforms = ok(admin.get("/api/v0/repositories/rorg/images/tags/multi")).json()
    assert sorted(p["manifest"]["architecture"] for p in platforms) == ["amd64", "arm64"]
    assert {p["digest"] for p in platforms} == {multi.manifest_digest}
    by_digest = ok(admin.get(f"/api/v0/repositories/rorg/images/tags/{digest}")).json()
    assert [t["name"] for t in by_digest] == ["v1"]
    missing = admin.get("/api/v0/repositories/rorg/images/tags/nope")
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "NO_SUCH_REF"
    ok(admin.delete("/api/v0/repositories/rorg/images/tags/v1"), 204)
    again = admin.delete("/api/v0/repositories/rorg/images/tags/v1")
    assert again.status_code == 404 and again.json()["errors"][0]["code"] == "NO_SUCH_TAG"
    tag_events = [
        e.payload["contents"]["tag"]
        for e in _outbox(module_server)
        if e.type == "TAG_DELETE" and e.repository_key == "rorg/images"
    ]
    assert tag_events == ["v1"]
    paged = ok(admin.get("/api/v0/repositories/rorg/images/tags", params={"pageSize": 1}))
    assert len(paged.json()) == 1 and "x-next-page-start" not in paged.headers
    ok(admin.delete("/api/v0/repositories/rorg/images"), 204)
    assert admin.get("/v2/rorg/images/tags/list").status_code == 404


def test_namespace_and_repository_team_access(
    module_server: RunningServer, admin: httpx.Client
) -> None:
    ok(admin.post("/api/v0/repositories/rorg", json={"name": "secret"}), 201)
    with module_server.client(auth=("sam", PASSWORD)) as sam:
        # Private and not readable by sam: answered like a missing repository.
        assert sam.get("/api/v0/repositories/rorg/secret").status_code == 404
        ok(
            admin.put(
                "/api/v0/repositoryNamespaces/rorg/teamAccess/readers",
                json={"accessLevel": "read-only"},
            )
        )
        ok(sam.get("/api/v0/repositories/rorg/secret"))
        grant = ok(admin.get("/api/v0/repositoryNamespaces/rorg/teamAccess/readers")).json()
        assert grant["accessLevel"] == "read-only" and grant["namespace"] == "rorg"
        assert sam.post("/v2/rorg/secret/blobs/uploads/").status_code == 403
        # The highest grant wins: a repository grant of read-write on top.
        ok(
            admin.put(
                "/api/v0/repositories/rorg/secret/teamAccess/readers",
                json={"accessLevel": "read-write"},
            )
        )
        ok(sam.post("/v2/rorg/secret/blobs/uploads/"), 202)
        listed = ok(admin.get("/api/v0/repositories/rorg/secret/teamAccess")).json()
        assert [(g["team"]["name"], g["accessLevel"]) for g in listed["teamAccessList"]] == [
            ("readers", "read-write")
        ]
        ok(admin.delete("/api/v0/repositories/rorg/secret/teamAccess/readers"), 204)
        ok(admin.delete("/api/v0/repositoryNamespaces/rorg/teamAccess/readers"), 204)
        assert sam.get("/api/v0/repositories/rorg/secret").status_code == 404
        bad = admin.put(
            "/api/v0/repositories/rorg/secret/teamAccess/readers", json={"accessLevel": "owner"}
        )
        assert bad.status_code == 400
        no_team = admin.put(
            "/api/v0/repositories/rorg/secret/teamAccess/ghosts", json={"accessLevel": "admin"}
        )
        assert no_team.status_code == 404
        assert no_team.json()["errors"][0]["code"] == "NO_SUCH_TEAM"
