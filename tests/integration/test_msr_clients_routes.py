"""The small MSR routes old clients call, against the real server: a team's repository grants
and a user's level on a repository (MSR's `repositoryAccess` views), `limit` as the page size on
`/api/v0/repositories`, eNZi lists clamping `limit=9999`, eNZi's `id:<uuid>` addressing,
`GET /api/v0/admin/version` (the Terraform provider's credential check) and the 200 MSR answers
to `DELETE /api/v0/api_tokens/{hash}`.

Each request is the client's own shape (paths, query names, JSON bodies) and each assertion is
what the client decodes: status, field names and their JSON types.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.server import RunningServer
from tests.integration.accounts_helpers import (
    PASSWORD,
    add_member,
    create_org,
    create_repo,
    create_team,
    create_user,
    ok,
)


@pytest.fixture(scope="module")
def admin(module_server: RunningServer) -> Iterator[httpx.Client]:
    with module_server.client(auth=module_server.admin_auth) as client:
        for name in ("olive", "pablo", "quinn"):
            create_user(client, name)
        create_org(client, "shop")
        add_member(client, "shop", "olive")
        add_member(client, "shop", "quinn")
        create_team(client, "shop", "builders", ["olive"])
        for repo in ("api", "web", "worker"):
            create_repo(client, "shop", repo)
        for repo, level in (("api", "read-write"), ("web", "read-only")):
            ok(
                client.put(
                    f"/api/v0/repositories/shop/{repo}/teamAccess/builders",
                    json={"accessLevel": level},
                )
            )
        yield client


def _as(server: RunningServer, name: str) -> httpx.Client:
    return server.client(auth=(name, PASSWORD))


def test_team_repository_access_list(module_server: RunningServer, admin: httpx.Client) -> None:
    path = "/api/v0/accounts/shop/teams/builders/repositoryAccess"
    with _as(module_server, "olive") as olive:  # a member of the team
        body = ok(olive.get(path)).json()
        assert body["team"]["name"] == "builders" and isinstance(body["team"]["id"], str)
        grants = body["repositoryAccessList"]
        assert [(g["repository"]["name"], g["accessLevel"]) for g in grants] == [
            ("api", "read-write"),
            ("web", "read-only"),
        ]
        repo = grants[0]["repository"]
        assert repo["namespace"] == "shop" and repo["namespaceType"] == "organization"
        assert isinstance(repo["id"], str) and isinstance(repo["pulls"], int)
        # MSR's paging: pageSize, X-Next-Page-Start fed back as pageStart, count.
        first = ok(olive.get(path, params={"pageSize": 1, "count": "true"}))
        assert first.headers["x-resource-count"] == "2"
        assert [g["repository"]["name"] for g in first.json()["repositoryAccessList"]] == ["api"]
        rest = ok(olive.get(path, params={"pageStart": first.headers["x-next-page-start"]}))
        assert [g["repository"]["name"] for g in rest.json()["repositoryAccessList"]] == ["web"]
    # An organization member outside the team may not look; an owner (admin) may.
    with _as(module_server, "quinn") as quinn:
        refused = quinn.get(path)
        assert refused.status_code == 403
        assert refused.json()["errors"][0]["code"] == "NOT_AUTHORIZED"
    ok(admin.get(path))
    missing = admin.get("/api/v0/accounts/shop/teams/nobody/repositoryAccess")
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "NO_SUCH_TEAM"


def test_user_repository_access(module_server: RunningServer, admin: httpx.Client) -> None:
    with _as(module_server, "olive") as olive:
        body = ok(olive.get("/api/v0/accounts/olive/repositoryAccess/shop/api")).json()
        assert body["accessLevel"] == "read-write"
        assert body["user"]["name"] == "olive" and body["user"]["isOrg"] is False
        assert body["repository"]["name"] == "api" and body["repository"]["namespace"] == "shop"
        # Someone else's access: only admins ask.
        assert olive.get("/api/v0/accounts/quinn/repositoryAccess/shop/api").status_code == 403
        # A repository olive cannot see is missing, whatever its name.
        hidden = olive.get("/api/v0/accounts/olive/repositoryAccess/shop/worker")
        assert hidden.status_code == 404
        assert hidden.json()["errors"][0]["code"] == "NO_SUCH_REPOSITORY"
    quinn = ok(admin.get("/api/v0/accounts/quinn/repositoryAccess/shop/api")).json()
    assert quinn["accessLevel"] == "" and quinn["user"]["name"] == "quinn"
    mine = ok(admin.get("/api/v0/accounts/admin/repositoryAccess/shop/worker")).json()
    assert mine["accessLevel"] == "admin"


def test_limit_on_repositories_and_enzi_lists(admin: httpx.Client) -> None:
    # DTR's older page size name on the repositories list.
    first = ok(admin.get("/api/v0/repositories", params={"limit": 2}))
    assert len(first.json()["repositories"]) == 2
    assert first.headers["x-next-page-start"]
    everything = ok(admin.get("/api/v0/repositories", params={"limit": 9999})).json()
    assert {"api", "web", "worker"} <= {r["name"] for r in everything["repositories"]}
    assert admin.get("/api/v0/repositories", params={"limit": 0}).status_code == 400
    # eNZi lists: scripts send 9999 and 10000 and pipe the answer into jq.
    for limit in (9999, 10000):
        accounts = ok(admin.get("/enzi/v0/accounts", params={"limit": limit})).json()
        names = {a["name"] for a in accounts["accounts"]}
        assert {"olive", "pablo", "quinn", "shop", "admin"} <= names
        assert isinstance(accounts["usersCount"], int)
        members = ok(admin.get("/enzi/v0/accounts/shop/members", params={"limit": limit}))
        assert {m["member"]["name"] for m in members.json()["members"]} >= {"olive", "quinn"}
        teams = ok(admin.get("/enzi/v0/accounts/shop/teams", params={"limit": limit}))
        assert [t["name"] for t in teams.json()["teams"]] == ["builders"]
        team_members = admin.get(
            "/enzi/v0/accounts/shop/teams/builders/members", params={"limit": limit}
        )
        assert [m["member"]["name"] for m in ok(team_members).json()["members"]] == ["olive"]


def test_enzi_id_addressing(admin: httpx.Client) -> None:
    pablo = ok(admin.get("/enzi/v0/accounts/pablo")).json()
    shop = ok(admin.get("/enzi/v0/accounts/shop")).json()
    by_id = ok(admin.get(f"/enzi/v0/accounts/id:{pablo['id']}")).json()
    assert by_id["name"] == "pablo" and by_id["id"] == pablo["id"]
    changed = ok(
        admin.patch(f"/enzi/v0/accounts/id:{pablo['id']}", json={"fullName": "Pablo P."})
    ).json()
    assert changed["fullName"] == "Pablo P."
    teams = ok(admin.get(f"/enzi/v0/accounts/id:{shop['id']}/teams")).json()["teams"]
    assert [t["name"] for t in teams] == ["builders"]
    team = ok(admin.get(f"/enzi/v0/accounts/id:{shop['id']}/teams/id:{teams[0]['id']}")).json()
    assert team["name"] == "builders"
    ok(admin.put(f"/enzi/v0/accounts/id:{shop['id']}/members/id:{pablo['id']}", json={}))
    member = ok(admin.get(f"/enzi/v0/accounts/shop/members/id:{pablo['id']}")).json()
    assert member["member"]["name"] == "pablo" and member["isAdmin"] is False
    unknown = admin.get("/enzi/v0/accounts/id:00000000-0000-4000-8000-000000000000")
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0]["code"] == "NO_SUCH_ACCOUNT"
    # A repository namespace is a name, never an id.
    assert admin.get(f"/api/v0/repositories/id:{shop['id']}").status_code == 404


def test_admin_version_checks_credentials(module_server: RunningServer) -> None:
    with _as(module_server, "olive") as olive:
        version = ok(olive.get("/api/v0/admin/version"), 200).json()
    assert isinstance(version["version"], str) and version["version"]
    with module_server.client(auth=("olive", "wrong-password")) as wrong:
        assert wrong.get("/api/v0/admin/version").status_code == 401
    with module_server.client() as anonymous:
        refused = anonymous.get("/api/v0/admin/version")
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["code"] == "NOT_AUTHENTICATED"


def test_api_token_deletes_answer_200(module_server: RunningServer) -> None:
    with _as(module_server, "pablo") as pablo:
        made = ok(pablo.post("/api/v0/api_tokens", json={"tokenLabel": "python-client"})).json()
        deleted = pablo.delete(f"/api/v0/api_tokens/{made['hashedToken']}")
        # The Python client checks `status_code == 200`.
        assert deleted.status_code == 200
        assert deleted.json()["hashedToken"] == made["hashedToken"]
        assert pablo.delete(f"/api/v0/api_tokens/{made['hashedToken']}").status_code == 404
        for label in ("a", "b"):
            ok(pablo.post("/api/v0/api_tokens", json={"tokenLabel": label}))
        cleaned = pablo.delete("/api/v0/api_tokens", params={"username": "pablo"})
        assert cleaned.status_code == 200
        assert sorted(t["tokenLabel"] for t in cleaned.json()) == ["a", "b"]
        assert ok(pablo.get("/api/v0/api_tokens")).json() == []
