"""The account, organization and team pages over plain HTTP (no browser): the password change,
access tokens shown once and revoked, lists in pages, members and teams managed with the same
rules as /enzi/v0 (tabs hidden, forms refused), and post/redirect/get on every form."""

from __future__ import annotations

import re
import uuid
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
from tests.integration.test_ui_pages import signed_in

pytestmark = pytest.mark.e2e

TOKEN = re.compile(r'<code id="new-token">([^<]+)</code>')


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def admin(module_server: RunningServer) -> Iterator[httpx.Client]:
    with module_server.client(auth=module_server.admin_auth) as client:
        yield client


def _user(admin: httpx.Client) -> str:
    name = _name("u")
    create_user(admin, name)
    return name


def test_password_change_needs_the_current_one_and_ends_other_sessions(
    module_server: RunningServer, admin: httpx.Client
) -> None:
    user = _user(admin)
    new = "a-brand-new-password"
    with (
        signed_in(module_server, user, PASSWORD) as (other, _),
        signed_in(module_server, user, PASSWORD) as (client, csrf),
    ):
        assert "Change your password" in client.get("/account").text
        form = {"csrf_token": csrf, "new_password": new, "repeat_password": new}
        wrong = client.post("/account/password", data={**form, "current_password": "nope-nope"})
        assert wrong.status_code == 400
        assert "current password is wrong" in wrong.text
        differ = {**form, "repeat_password": new + "x", "current_password": PASSWORD}
        mismatch = client.post("/account/password", data=differ)
        assert mismatch.status_code == 400 and "differ" in mismatch.text
        short = {**form, "new_password": "short", "repeat_password": "short"}
        too_short = client.post("/account/password", data={**short, "current_password": PASSWORD})
        assert too_short.status_code == 400
        done = client.post("/account/password", data={**form, "current_password": PASSWORD})
        assert done.status_code == 303
        assert done.headers["location"] == "/account?msg=password-changed"
        assert "Your password was changed" in client.get(done.headers["location"]).text
        # This session stays; the other one is signed out.
        assert other.get("/account").status_code == 303
    assert httpx.get(f"{module_server.url}/api/v0/api_tokens", auth=(user, new)).status_code == 200
    old = httpx.get(f"{module_server.url}/api/v0/api_tokens", auth=(user, PASSWORD))
    assert old.status_code == 401


def test_token_is_shown_once_works_and_is_revoked(
    module_server: RunningServer, admin: httpx.Client
) -> None:
    user, stranger = _user(admin), _user(admin)
    with signed_in(module_server, user, PASSWORD) as (client, csrf):
        assert "You have no access tokens" in client.get("/account/tokens").text
        made = client.post("/account/tokens", data={"csrf_token": csrf, "label": "ci-push"})
        assert made.status_code == 303 and made.headers["location"] == "/account/tokens/created"
        shown = client.get("/account/tokens/created")
        assert shown.status_code == 200
        secret = TOKEN.search(shown.text).group(1)  # type: ignore[union-attr]
        # A reload shows nothing more and creates nothing.
        again = client.get("/account/tokens/created")
        assert again.status_code == 303 and again.headers["location"] == "/account/tokens"
        listed = ok(httpx.get(f"{module_server.url}/api/v0/api_tokens", auth=(user, secret)))
        tokens = listed.json()
        assert [t["tokenLabel"] for t in tokens] == ["ci-push"]
        page = client.get("/account/tokens").text
        assert "ci-push" in page and secret not in page
        hashed = tokens[0]["hashedToken"]
        with signed_in(module_server, stranger, PASSWORD) as (other, other_csrf):
            theirs = other.post(f"/account/tokens/{hashed}/revoke", data={"csrf_token": other_csrf})
            assert theirs.status_code == 404
        no_label = client.post("/account/tokens", data={"csrf_token": csrf, "label": ""})
        assert no_label.status_code == 400
        revoked = client.post(f"/account/tokens/{hashed}/revoke", data={"csrf_token": csrf})
        assert revoked.status_code == 303
        assert "was revoked" in client.get(revoked.headers["location"]).text
    gone = httpx.get(f"{module_server.url}/api/v0/api_tokens", auth=(user, secret))
    assert gone.status_code == 401


def test_token_list_pages(module_server: RunningServer, admin: httpx.Client) -> None:
    user = _user(admin)
    for i in range(53):
        ok(admin.post(f"/api/v0/api_tokens?username={user}", json={"tokenLabel": f"t{i:02d}"}))
    with signed_in(module_server, user, PASSWORD) as (client, _):
        first = client.get("/account/tokens").text
        assert first.count("data-token-label=") == 50
        assert "t52" in first and "t00" not in first  # newest first
        nxt = re.search(r'href="(/account/tokens\?start=[^"]+)" rel="next"', first)
        assert nxt is not None
        second = client.get(nxt.group(1).replace("&amp;", "&")).text
        assert second.count("data-token-label=") == 3 and "t00" in second
        assert 'rel="prev"' in second and 'rel="next"' not in second


def test_members_tab_rules_and_forms(module_server: RunningServer, admin: httpx.Client) -> None:
    org = _name("org")
    owner, member, newcomer, outsider = (_user(admin) for _ in range(4))
    create_org(admin, org)
    add_member(admin, org, owner, is_admin=True)
    add_member(admin, org, member)
    create_repo(admin, org, "open", visibility="public")
    with signed_in(module_server, outsider, PASSWORD) as (client, csrf):
        page = client.get(f"/orgs/{org}").text
        assert f"/orgs/{org}/members" not in page  # the tab is not shown
        assert client.get(f"/orgs/{org}/members").status_code == 403
        refused = client.post(f"/orgs/{org}/members", data={"csrf_token": csrf, "name": outsider})
        assert refused.status_code == 403
    with signed_in(module_server, member, PASSWORD) as (client, csrf):
        page = client.get(f"/orgs/{org}/members").text
        assert owner in page and "Add a member" not in page
        refused = client.post(f"/orgs/{org}/members", data={"csrf_token": csrf, "name": newcomer})
        assert refused.status_code == 403
        removing = client.post(f"/orgs/{org}/members/{owner}/remove", data={"csrf_token": csrf})
        assert removing.status_code == 403
    with signed_in(module_server, owner, PASSWORD) as (client, csrf):
        form = {"csrf_token": csrf, "name": newcomer, "role": "member"}
        added = client.post(f"/orgs/{org}/members", data=form)
        assert added.status_code == 303
        assert added.headers["location"] == f"/orgs/{org}/members?msg=member-added"
        shown = client.get(added.headers["location"]).text
        assert f'data-member="{newcomer}"' in shown and "The member was added" in shown
        unknown = client.post(f"/orgs/{org}/members", data={**form, "name": "no-such-user"})
        assert unknown.status_code == 400 and "no user named" in unknown.text
        promoted = client.post(
            f"/orgs/{org}/members/{newcomer}/role", data={"csrf_token": csrf, "role": "owner"}
        )
        assert promoted.status_code == 303
        overview = client.get(f"/orgs/{org}").text
        assert "Members (3)" in overview and f"/orgs/{org}/members" in overview
    members = ok(admin.get(f"/enzi/v0/accounts/{org}/members")).json()["members"]
    roles = {m["member"]["name"]: m["isAdmin"] for m in members}
    assert roles == {owner: True, member: False, newcomer: True}
    with signed_in(module_server, member, PASSWORD) as (client, csrf):
        left = client.post(f"/orgs/{org}/members/{member}/remove", data={"csrf_token": csrf})
        assert left.status_code == 303 and left.headers["location"] == "/account/organizations"
        assert org not in client.get("/account/organizations").text


def test_teams_and_their_repository_access(
    module_server: RunningServer, admin: httpx.Client
) -> None:
    org, team = _name("org"), _name("team")
    owner, member, other = (_user(admin) for _ in range(3))
    create_org(admin, org)
    add_member(admin, org, owner, is_admin=True)
    add_member(admin, org, other)
    create_repo(admin, org, "app")
    create_team(admin, org, "others", [other])
    with signed_in(module_server, owner, PASSWORD) as (client, csrf):
        assert "has no teams yet" not in client.get(f"/orgs/{org}/teams").text
        made = client.post(f"/orgs/{org}/teams", data={"csrf_token": csrf, "name": team})
        assert made.status_code == 303
        base = f"/orgs/{org}/teams/{team}"
        assert made.headers["location"] == f"{base}?msg=team-created"
        assert client.get(made.headers["location"]).status_code == 200
        clash = client.post(f"/orgs/{org}/teams", data={"csrf_token": csrf, "name": team})
        assert clash.status_code == 400
        added = client.post(f"{base}/members", data={"csrf_token": csrf, "name": member})
        assert added.status_code == 303
        granted = client.post(
            f"{base}/access", data={"csrf_token": csrf, "repository": "app", "level": "read-write"}
        )
        assert granted.status_code == 303
        page = client.get(base).text
        assert f'data-team-member="{member}"' in page and 'data-grant="app"' in page
        missing = client.post(
            f"{base}/access", data={"csrf_token": csrf, "repository": "nope", "level": "admin"}
        )
        assert missing.status_code == 400
    access = ok(admin.get(f"/api/v0/accounts/{member}/repositoryAccess/{org}/app")).json()
    assert access["accessLevel"] == "read-write"
    # Access to every repository of the organization, then taken back.
    create_repo(admin, org, "lib")
    lib = f"/api/v0/accounts/{member}/repositoryAccess/{org}/lib"
    with signed_in(module_server, owner, PASSWORD) as (client, csrf):
        for level, expected in (("read-only", "read-only"), ("none", "")):
            saved = client.post(
                f"{base}/namespace-access", data={"csrf_token": csrf, "level": level}
            )
            assert saved.status_code == 303
            assert ok(admin.get(lib)).json()["accessLevel"] == expected
        bad = client.post(f"{base}/namespace-access", data={"csrf_token": csrf, "level": "x"})
        assert bad.status_code == 400
    # A member outside the team sees the team but not its grants, and may not change them.
    with signed_in(module_server, other, PASSWORD) as (client, csrf):
        page = client.get(f"/orgs/{org}/teams/{team}").text
        assert member in page and "Repository access" not in page
        # The private repository is invisible to them: as missing as one that does not exist.
        for path, data, status in (
            ("/access", {"repository": "app", "level": "admin"}, 400),
            ("/access/app/revoke", {}, 404),
            ("/delete", {}, 403),
            ("/rename", {"name": "taken-over"}, 403),
            ("/members", {"name": other}, 403),
            ("/namespace-access", {"level": "admin"}, 403),
        ):
            answer = client.post(
                f"/orgs/{org}/teams/{team}{path}", data={"csrf_token": csrf, **data}
            )
            assert answer.status_code == status, path
    access = ok(admin.get(f"/api/v0/accounts/{member}/repositoryAccess/{org}/app")).json()
    assert access["accessLevel"] == "read-write"
    with signed_in(module_server, owner, PASSWORD) as (client, csrf):
        renamed = client.post(
            f"{base}/rename", data={"csrf_token": csrf, "name": f"{team}-x", "description": "d"}
        )
        assert renamed.status_code == 303
        base = f"{base}-x"
        revoked = client.post(f"{base}/access/app/revoke", data={"csrf_token": csrf})
        assert revoked.status_code == 303
        deleted = client.post(f"{base}/delete", data={"csrf_token": csrf})
        assert deleted.headers["location"] == f"/orgs/{org}/teams?msg=team-deleted"
        assert client.get(base).status_code == 404
    access = ok(admin.get(f"/api/v0/accounts/{member}/repositoryAccess/{org}/app")).json()
    assert access["accessLevel"] != "read-write"
