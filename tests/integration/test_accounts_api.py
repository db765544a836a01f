"""The eNZi accounts API and MSR access tokens over HTTP: shapes, filters, paging, members,
teams, password changes, tokens as passwords, revocation, login rate limiting, bad input."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.server import RunningServer
from tests.integration.accounts_helpers import PASSWORD, create_org, create_user, ok


@pytest.fixture(scope="module")
def admin(module_server: RunningServer) -> Iterator[httpx.Client]:
    with module_server.client(auth=module_server.admin_auth) as client:
        for name in ("carol", "dave", "erin"):
            create_user(client, name)
        create_org(client, "team-org")
        yield client


def _user(server: RunningServer, name: str, password: str = PASSWORD) -> httpx.Client:
    return server.client(auth=(name, password))


def test_account_shapes_and_filters(admin: httpx.Client) -> None:
    user = ok(admin.get("/enzi/v0/accounts/carol")).json()
    assert {"id", "name", "fullName", "isActive", "isAdmin", "isOrg"} <= set(user)
    assert user["isOrg"] is False and user["isActive"] is True
    # By id too.
    assert ok(admin.get(f"/enzi/v0/accounts/{user['id']}")).json()["name"] == "carol"
    org = ok(admin.get("/enzi/v0/accounts/team-org")).json()
    assert org["isOrg"] is True and "membersCount" in org and "teamsCount" in org

    def names(filter_: str) -> set[str]:
        body = ok(admin.get("/enzi/v0/accounts", params={"filter": filter_})).json()
        return {a["name"] for a in body["accounts"]}

    assert "team-org" in names("orgs") and "carol" not in names("orgs")
    assert {"carol", "admin"} <= names("users")
    assert "admin" in names("admins") and "carol" not in names("admins")
    assert "carol" in names("non-admins") and "admin" not in names("non-admins")
    assert {"carol", "team-org", "admin"} <= names("all")
    bad = admin.get("/enzi/v0/accounts", params={"filter": "nope"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["code"] == "INVALID_PARAMETERS"


def test_limit_start_paging(admin: httpx.Client) -> None:
    seen: list[str] = []
    start = ""
    while True:
        response = ok(admin.get("/enzi/v0/accounts", params={"limit": 2, "start": start}))
        body = response.json()
        assert len(body["accounts"]) <= 2
        assert body["usersCount"] >= 4 and body["orgsCount"] >= 1
        seen += [a["name"] for a in body["accounts"]]
        start = body["nextPageStart"]
        assert response.headers.get("x-next-page-start", "") == start
        if not start:
            break
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert {"admin", "carol", "dave", "erin", "team-org"} <= set(seen)


def test_only_admins_create_accounts(module_server: RunningServer, admin: httpx.Client) -> None:
    with _user(module_server, "carol") as carol:
        denied = carol.post("/enzi/v0/accounts", json={"name": "x-user", "password": PASSWORD})
        assert denied.status_code == 403
        assert denied.json()["errors"][0]["code"] == "NOT_AUTHORIZED"
        denied = carol.post("/enzi/v0/accounts", json={"name": "x-org", "isOrg": True})
        assert denied.status_code == 403
    again = admin.post("/enzi/v0/accounts", json={"name": "carol", "password": PASSWORD})
    assert again.status_code == 400 and again.json()["errors"][0]["code"] == "ACCOUNT_EXISTS"
    missing = admin.get("/enzi/v0/accounts/nobody-here")
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "NO_SUCH_ACCOUNT"


def test_members_and_teams(module_server: RunningServer, admin: httpx.Client) -> None:
    ok(admin.put("/enzi/v0/accounts/team-org/members/dave", json={"isAdmin": True}))
    with _user(module_server, "dave") as dave:
        # An org owner manages members and teams of their org.
        ok(dave.put("/enzi/v0/accounts/team-org/members/erin", json={"isAdmin": False}))
        team = ok(
            dave.post("/enzi/v0/accounts/team-org/teams", json={"name": "ops", "description": "d"}),
            201,
        ).json()
        assert {"id", "name", "description", "orgID", "membersCount"} <= set(team)
        ok(dave.put("/enzi/v0/accounts/team-org/teams/ops/members/carol", json={}))
        members = ok(dave.get("/enzi/v0/accounts/team-org/members")).json()["members"]
        by_name = {m["member"]["name"]: m["isAdmin"] for m in members}
        # Joining a team made carol an org member (not an owner).
        assert by_name == {"carol": False, "dave": True, "erin": False}
        team_members = ok(dave.get("/enzi/v0/accounts/team-org/teams/ops/members")).json()
        assert [m["member"]["name"] for m in team_members["members"]] == ["carol"]
        assert ok(dave.get("/enzi/v0/accounts/team-org/teams/ops")).json()["membersCount"] == 1
        ok(dave.patch("/enzi/v0/accounts/team-org/teams/ops", json={"description": "new"}))
    with _user(module_server, "erin") as erin:
        # A plain member sees but does not manage.
        ok(erin.get("/enzi/v0/accounts/team-org/teams"))
        assert erin.post("/enzi/v0/accounts/team-org/teams", json={"name": "x"}).status_code == 403
        assert erin.delete("/enzi/v0/accounts/team-org/members/carol").status_code == 403
        # ...but may leave.
        ok(erin.delete("/enzi/v0/accounts/team-org/members/erin"), 204)
    ok(admin.delete("/enzi/v0/accounts/team-org/teams/ops/members/carol"), 204)
    ok(admin.delete("/enzi/v0/accounts/team-org/teams/ops"), 204)
    gone = admin.get("/enzi/v0/accounts/team-org/teams/ops")
    assert gone.status_code == 404 and gone.json()["errors"][0]["code"] == "NO_SUCH_TEAM"
    not_org = admin.get("/enzi/v0/accounts/carol/members")
    assert not_org.status_code == 404


def test_user_changes_own_password_only(module_server: RunningServer, admin: httpx.Client) -> None:
    create_user(admin, "frank")
    with _user(module_server, "frank") as frank:
        wrong = frank.post(
            "/enzi/v0/accounts/frank/changePassword",
            json={"oldPassword": "nope", "newPassword": "brand-new-password"},
        )
        assert wrong.status_code == 400
        ok(
            frank.post(
                "/enzi/v0/accounts/frank/changePassword",
                json={"oldPassword": PASSWORD, "newPassword": "brand-new-password"},
            )
        )
    with _user(module_server, "frank", "brand-new-password") as frank:
        other = frank.post(
            "/enzi/v0/accounts/carol/changePassword",
            json={"oldPassword": PASSWORD, "newPassword": "brand-new-password"},
        )
        assert other.status_code == 403
        assert frank.patch("/enzi/v0/accounts/frank", json={"isAdmin": True}).status_code == 403
        ok(frank.patch("/enzi/v0/accounts/frank", json={"fullName": "Frank F."}))
        assert ok(frank.get("/enzi/v0/accounts/frank")).json()["fullName"] == "Frank F."
    with _user(module_server, "frank") as old:
        assert old.get("/enzi/v0/accounts/frank").status_code == 401


def test_tokens_shown_once_work_as_password_and_revoke(
    module_server: RunningServer, admin: httpx.Client
) -> None:
    create_user(admin, "grace")
    with _user(module_server, "grace") as grace:
        created = ok(grace.post("/api/v0/api_tokens", json={"tokenLabel": "ci"})).json()
        token = created["token"]
        assert created["tokenLabel"] == "ci" and created["isActive"] is True
        assert created["lastUsed"] == "0001-01-01T00:00:00Z"
        hashed = created["hashedToken"]
        listed = ok(grace.get("/api/v0/api_tokens")).json()
        assert [t["hashedToken"] for t in listed] == [hashed]
        assert "token" not in listed[0]
        assert "token" not in ok(grace.get(f"/api/v0/api_tokens/{hashed}")).json()
    # curl -u grace:$TOKEN style, on /api/v0 and /v2.
    with module_server.client(auth=("grace", token)) as by_token:
        ok(by_token.get("/api/v0/repositories"))
        ok(by_token.get("/v2/"))
    used = ok(admin.get(f"/api/v0/api_tokens/{hashed}")).json()
    assert used["lastUsed"] != "0001-01-01T00:00:00Z"
    # Another user neither sees nor changes it; an admin does.
    with _user(module_server, "carol") as carol:
        assert carol.get(f"/api/v0/api_tokens/{hashed}").status_code == 404
        assert carol.get("/api/v0/api_tokens", params={"username": "grace"}).status_code == 403
    ok(admin.patch(f"/api/v0/api_tokens/{hashed}", json={"isActive": False, "tokenLabel": "off"}))
    with module_server.client(auth=("grace", token)) as by_token:
        assert by_token.get("/api/v0/repositories").status_code == 401
        assert by_token.get("/v2/").status_code == 401
    ok(admin.patch(f"/api/v0/api_tokens/{hashed}", json={"isActive": True}))
    with module_server.client(auth=("grace", token)) as by_token:
        ok(by_token.get("/v2/"))
    ok(admin.delete(f"/api/v0/api_tokens/{hashed}"), 200)
    with module_server.client(auth=("grace", token)) as by_token:
        assert by_token.get("/v2/").status_code == 401
    # Admins create tokens for others.
    other = ok(admin.post("/api/v0/api_tokens", params={"username": "grace"}, json={})).json()
    assert other["username"] == "grace" and other["generatedBy"] == "admin"
    with module_server.client(auth=("grace", other["token"])) as by_token:
        ok(by_token.get("/v2/"))
    # A token never authenticates another user.
    with module_server.client(auth=("carol", other["token"])) as wrong:
        assert wrong.get("/v2/").status_code == 401


def test_login_rate_limit(module_server: RunningServer, admin: httpx.Client) -> None:
    create_user(admin, "mallory")
    with module_server.client() as client:
        statuses = [
            client.get("/api/v0/api_tokens", auth=("mallory", f"guess-{i}")).status_code
            for i in range(12)
        ]
        assert statuses[:10] == [401] * 10
        assert statuses[10:] == [429, 429]
        blocked = client.get("/api/v0/api_tokens", auth=("mallory", PASSWORD))
        assert blocked.status_code == 429
        assert blocked.json()["errors"][0]["code"] == "RATE_LIMITED"
        assert "try again" in blocked.json()["errors"][0]["message"]
        assert int(blocked.headers["retry-after"]) > 0
        v2 = client.get("/v2/", auth=("mallory", PASSWORD))
        assert v2.status_code == 429 and v2.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
        token = client.get("/auth/token", auth=("mallory", PASSWORD))
        assert token.status_code == 429
        # Other users are unaffected.
        ok(client.get("/api/v0/api_tokens", auth=("carol", PASSWORD)))


BAD_ACCOUNT_BODIES = [
    ({"name": "Bad Name", "password": PASSWORD}, "name"),
    ({"name": "", "password": PASSWORD}, "name"),
    ({"name": 5, "password": PASSWORD}, "name"),
    ({"name": "okname", "password": "short"}, "password"),
    ({"name": "okname"}, "password"),
    ({"name": "okname", "password": PASSWORD, "isAdmin": "yes"}, "isAdmin"),
    ({"name": "okname", "password": PASSWORD, "isActive": 1}, "isActive"),
    ({"name": "okname", "password": PASSWORD, "fullName": ["x"]}, "fullName"),
    ({"name": "okorg", "isOrg": "true"}, "isOrg"),
    ({"name": "okorg", "isOrg": True, "isAdmin": True}, "isAdmin"),
    ([], ""),
]


@pytest.mark.parametrize(("body", "field"), BAD_ACCOUNT_BODIES)
def test_bad_account_input_is_400(admin: httpx.Client, body: object, field: str) -> None:
    response = admin.post("/enzi/v0/accounts", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert error["code"] in ("INVALID_PARAMETERS", "INVALID_JSON")
    assert field in str(error.get("detail", "")) + error["message"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/enzi/v0/accounts/carol", {"isActive": "no"}),
        ("PATCH", "/enzi/v0/accounts/carol", {"fullName": 3}),
        ("PUT", "/enzi/v0/accounts/team-org/members/carol", {"isAdmin": "x"}),
        ("POST", "/enzi/v0/accounts/team-org/teams", {"name": "Bad Team"}),
        ("POST", "/enzi/v0/accounts/team-org/teams", {"description": "no name"}),
        ("POST", "/api/v0/api_tokens", {"tokenLabel": 7}),
        ("POST", "/api/v0/api_tokens", {"tokenLabel": "x" * 300}),
        ("GET", "/api/v0/api_tokens?pageSize=0", None),
        ("GET", "/api/v0/api_tokens?pageSize=abc", None),
        ("GET", "/enzi/v0/accounts?limit=-1", None),
        ("DELETE", "/api/v0/api_tokens?usedbefore=yesterday", None),
    ],
)
def test_bad_input_is_400(admin: httpx.Client, method: str, path: str, body: object) -> None:
    response = admin.request(method, path, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["code"] in ("INVALID_PARAMETERS", "INVALID_JSON")


def test_malformed_json_is_invalid_json(admin: httpx.Client) -> None:
    response = admin.post(
        "/enzi/v0/accounts", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "INVALID_JSON"


def test_delete_account(module_server: RunningServer, admin: httpx.Client) -> None:
    create_user(admin, "henry")
    ok(admin.post("/api/v0/repositories/henry", json={"name": "mine"}), 201)
    ok(admin.delete("/enzi/v0/accounts/henry"), 204)
    assert admin.get("/enzi/v0/accounts/henry").status_code == 404
    assert admin.get("/api/v0/repositories/henry/mine").status_code == 404
    assert admin.delete("/enzi/v0/accounts/admin").status_code == 400
