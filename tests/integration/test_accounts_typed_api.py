"""The accounts API's typed edges and its pages in SQL: every /enzi/v0/accounts and
/api/v0/api_tokens operation is described (body, answer, real errors, no 422) in the OpenAPI
document, answers keep their exact wire shape, and member, team and token lists page by key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fakes.server import RunningServer
from tests.integration.accounts_helpers import PASSWORD, create_org, create_user, ok

USER_KEYS = {
    "id", "name", "fullName", "isOrg", "isAdmin", "isActive", "isImported", "onDemand",
    "otpEnabled",
}  # fmt: skip
TOKEN_KEYS = {
    "hashedToken", "tokenLabel", "isActive", "lastUsed", "createdAt", "generatedBy", "creatorUa",
    "username",
}  # fmt: skip
MEMBERS = ["m-anna", "m-bert", "m-cleo", "m-dora", "m-emil"]


@pytest.fixture(scope="module")
def admin(module_server: RunningServer) -> Iterator[httpx.Client]:
    with module_server.client(auth=module_server.admin_auth) as client:
        create_org(client, "paged-org")
        for name in MEMBERS:
            create_user(client, name)
            ok(client.put(f"/enzi/v0/accounts/paged-org/members/{name}", json={}))
        for team in ("t-alpha", "t-beta", "t-gamma"):
            ok(client.post("/enzi/v0/accounts/paged-org/teams", json={"name": team}), 201)
        for name in MEMBERS[:3]:
            ok(client.put(f"/enzi/v0/accounts/paged-org/teams/t-beta/members/{name}", json={}))
        yield client


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        if path.startswith(("/enzi/v0/accounts", "/api/v0/api_tokens")):
            for method, operation in item.items():
                yield method, path, operation


def test_openapi_describes_every_accounts_operation(admin: httpx.Client) -> None:
    document = ok(admin.get("/api/v0/openapi.json")).json()
    operations = list(_operations(document))
    assert len(operations) >= 27, [f"{m} {p}" for m, p, _ in operations]
    takes_body = {"post", "put", "patch"}
    schemas = document["components"]["schemas"]
    for method, path, operation in operations:
        where = f"{method.upper()} {path}"
        assert operation.get("summary") and operation.get("tags"), where
        responses = operation["responses"]
        assert "422" not in responses, where
        assert "401" in responses, where
        success = [code for code in responses if code.startswith("2")]
        assert len(success) == 1, where
        if success[0] != "204":
            schema = responses[success[0]]["content"]["application/json"]["schema"]
            assert _example_of(schemas, schema), where
        if method in takes_body:
            body = operation["requestBody"]["content"]["application/json"]["schema"]
            assert _example_of(schemas, body), where


def _example_of(schemas: dict[str, Any], schema: dict[str, Any]) -> Any:
    """The first example of a (referenced, possibly optional or listed) schema."""
    for key in ("items", "anyOf"):
        if key in schema:
            inner = schema[key] if key == "items" else schema[key][0]
            return _example_of(schemas, inner)
    named = schemas[schema["$ref"].rsplit("/", 1)[1]]
    return named["examples"][0]


def test_users_and_orgs_keep_their_wire_shape(admin: httpx.Client) -> None:
    user = ok(admin.get("/enzi/v0/accounts/m-anna")).json()
    assert set(user) == USER_KEYS
    org = ok(admin.get("/enzi/v0/accounts/paged-org")).json()
    assert set(org) == USER_KEYS | {"membersCount", "teamsCount"}
    assert (org["membersCount"], org["teamsCount"]) == (5, 3)
    listed = ok(admin.get("/enzi/v0/accounts", params={"filter": "all", "limit": 1000})).json()
    by_name = {a["name"]: a for a in listed["accounts"]}
    assert by_name["paged-org"] == org and by_name["m-anna"] == user
    assert listed["resourceCount"] == len(listed["accounts"])
    member = ok(admin.get("/enzi/v0/accounts/paged-org/members/m-anna")).json()
    assert member == {"isAdmin": False, "isPublic": True, "member": user}


def _pages(admin: httpx.Client, path: str, key: str, limit: int) -> list[list[str]]:
    pages: list[list[str]] = []
    start = ""
    while True:
        response = ok(admin.get(path, params={"limit": limit, "start": start}))
        body = response.json()
        pages.append(
            [row["member"]["name"] if "member" in row else row["name"] for row in body[key]]
        )
        assert response.headers["x-resource-count"]
        assert response.headers.get("x-next-page-start", "") == body["nextPageStart"]
        start = body["nextPageStart"]
        if not start:
            return pages


def test_member_and_team_lists_page_by_name(admin: httpx.Client) -> None:
    pages = _pages(admin, "/enzi/v0/accounts/paged-org/members", "members", 2)
    assert pages == [MEMBERS[0:2], MEMBERS[2:4], MEMBERS[4:]]
    # A start key that is no name begins at the next name.
    body = ok(
        admin.get("/enzi/v0/accounts/paged-org/members", params={"limit": 2, "start": "m-b"})
    ).json()
    assert [m["member"]["name"] for m in body["members"]] == ["m-bert", "m-cleo"]
    assert body["nextPageStart"] == "m-dora"
    teams = ok(admin.get("/enzi/v0/accounts/paged-org/teams", params={"limit": 2}))
    assert teams.headers["x-resource-count"] == "3"
    assert [(t["name"], t["membersCount"]) for t in teams.json()["teams"]] == [
        ("t-alpha", 0),
        ("t-beta", 3),
    ]
    assert teams.json()["nextPageStart"] == "t-gamma"
    team_pages = _pages(admin, "/enzi/v0/accounts/paged-org/teams/t-beta/members", "members", 2)
    assert team_pages == [MEMBERS[0:2], MEMBERS[2:3]]


def test_token_list_pages_by_hashed_token(
    module_server: RunningServer, admin: httpx.Client
) -> None:
    create_user(admin, "tok-owner")
    with module_server.client(auth=("tok-owner", PASSWORD)) as owner:
        made = [
            ok(owner.post("/api/v0/api_tokens", json={"tokenLabel": f"t{i}"})).json()
            for i in range(5)
        ]
        assert all(set(t) == TOKEN_KEYS | {"token"} for t in made)
        order = [t["hashedToken"] for t in made]  # creation order
        first = ok(owner.get("/api/v0/api_tokens", params={"pageSize": 2, "count": True}))
        assert [t["hashedToken"] for t in first.json()] == order[:2]
        assert all(set(t) == TOKEN_KEYS for t in first.json())
        assert first.headers["x-resource-count"] == "5"
        assert first.headers["x-next-page-start"] == order[2]
        rest = ok(owner.get("/api/v0/api_tokens", params={"pageSize": 10, "pageStart": order[2]}))
        assert [t["hashedToken"] for t in rest.json()] == order[2:]
        assert "x-next-page-start" not in rest.headers and "x-resource-count" not in rest.headers
        # An unknown start: the first token, in creation order, whose hash sorts at or after it.
        probe = "8"
        expected = next((i for i, h in enumerate(order) if h >= probe), len(order))
        after = ok(owner.get("/api/v0/api_tokens", params={"pageSize": 10, "pageStart": probe}))
        assert [t["hashedToken"] for t in after.json()] == order[expected:]
        past = ok(owner.get("/api/v0/api_tokens", params={"pageStart": "~", "count": True}))
        assert past.json() == [] and past.headers["x-resource-count"] == "5"
