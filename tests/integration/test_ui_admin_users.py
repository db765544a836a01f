"""A registry administrator's user page over plain HTTP: another user's access tokens listed in
pages and revoked (the API's rules: administrators only, someone else's token is missing), the
Deactivate button asking once; and a team member's admin flag shown and set by the
organization's owners only, as PUT /enzi/v0/.../teams/{team}/members/{user} allows."""

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
    create_team,
    create_user,
    ok,
)
from tests.integration.test_ui_pages import signed_in

pytestmark = pytest.mark.e2e


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


def _token(server: RunningServer, user: str, label: str) -> dict[str, str]:
    """A token `user` makes for themselves (the answer holds the token, once)."""
    made = httpx.post(
        f"{server.url}/api/v0/api_tokens", json={"tokenLabel": label}, auth=(user, PASSWORD)
    )
    return dict(ok(made).json())


def _works(server: RunningServer, user: str, secret: str) -> bool:
    answer = httpx.get(f"{server.url}/api/v0/api_tokens", auth=(user, secret))
    return answer.status_code == 200


def test_admin_lists_and_revokes_another_users_tokens(
    module_server: RunningServer, admin: httpx.Client
) -> None:
    user, other, plain = _user(admin), _user(admin), _user(admin)
    ci = _token(module_server, user, "ci-push")
    laptop = _token(module_server, user, "laptop")
    theirs = _token(module_server, other, "other-ci")
    # Anyone but an administrator is refused, as GET /api/v0/api_tokens?username= refuses.
    with signed_in(module_server, plain, PASSWORD) as (client, csrf):
        assert client.get(f"/admin/users/{user}").status_code == 403
        refused = client.post(
            f"/admin/users/{user}/tokens/{ci['hashedToken']}/revoke", data={"csrf_token": csrf}
        )
        assert refused.status_code == 403
    assert _works(module_server, user, ci["token"])
    with signed_in(module_server, "admin", module_server.admin_password) as (client, csrf):
        assert f'href="/admin/users/{user}"' in client.get("/admin/users").text
        page = client.get(f"/admin/users/{user}").text
        labels = re.findall(r'data-token-label="([^"]+)"', page)
        assert labels == ["laptop", "ci-push"]  # newest first
        assert "Access tokens (2)" in page
        assert ci["token"] not in page and laptop["token"] not in page
        assert "other-ci" not in page
        confirm = re.search(r'data-confirm="(Revoke [^"]+)"', page)
        assert confirm and "refused from then on" in confirm.group(1)
        # A token is revoked through its own user's page only.
        wrong = client.post(
            f"/admin/users/{user}/tokens/{theirs['hashedToken']}/revoke",
            data={"csrf_token": csrf},
        )
        assert wrong.status_code == 404
        assert client.get("/admin/users/no-such-user").status_code == 404
        revoked = client.post(
            f"/admin/users/{user}/tokens/{ci['hashedToken']}/revoke", data={"csrf_token": csrf}
        )
        assert revoked.status_code == 303
        assert revoked.headers["location"] == f"/admin/users/{user}?msg=token-revoked"
        after = client.get(revoked.headers["location"]).text
        assert "The token was revoked" in after
        assert re.findall(r'data-token-label="([^"]+)"', after) == ["laptop"]
        # Reloading the result repeats nothing; posting again finds no token.
        again = client.post(
            f"/admin/users/{user}/tokens/{ci['hashedToken']}/revoke", data={"csrf_token": csrf}
        )
        assert again.status_code == 404
    assert not _works(module_server, user, ci["token"])
    assert _works(module_server, user, laptop["token"])
    assert _works(module_server, other, theirs["token"])


def test_admin_user_page_pages_tokens_and_says_when_there_are_none(
    module_server: RunningServer, admin: httpx.Client
) -> None:
    user, empty = _user(admin), _user(admin)
    for i in range(52):
        ok(admin.post(f"/api/v0/api_tokens?username={user}", json={"tokenLabel": f"t{i:02d}"}))
    with signed_in(module_server, "admin", module_server.admin_password) as (client, _):
        first = client.get(f"/admin/users/{user}").text
        assert first.count("data-token-label=") == 50 and "t51" in first and "t00" not in first
        # Made by the administrator for them: the row says who.
        assert "made by admin" in first
        nxt = re.search(rf'href="(/admin/users/{user}\?start=[^"]+)" rel="next"', first)
        assert nxt is not None
        second = client.get(nxt.group(1).replace("&amp;", "&")).text
        assert second.count("data-token-label=") == 2 and "t00" in second
        assert 'rel="prev"' in second and 'rel="next"' not in second
        assert f"{empty} has no access tokens" in client.get(f"/admin/users/{empty}").text


def test_deactivate_asks_once_saying_what_it_ends(
    module_server: RunningServer, admin: httpx.Client
) -> None:
    user = _user(admin)
    with signed_in(module_server, "admin", module_server.admin_password) as (client, _):
        listing = client.get("/admin/users").text
    forms = re.findall(
        rf'<form method="post" action="/admin/users/{user}" class="inline"([^>]*)>(.*?)</form>',
        listing,
        re.S,
    )
    [confirm] = [attrs for attrs, body in forms if 'value="deactivate"' in body]
    assert "signed out of every web session" in confirm and "access tokens" in confirm
    # Making someone an administrator is not destructive: no question.
    [plain] = [attrs for attrs, body in forms if 'value="make-admin"' in body]
    assert "data-confirm" not in plain


def test_team_member_admin_flag_shown_and_set_by_owners(
    module_server: RunningServer, admin: httpx.Client
) -> None:
    org, team = _name("org"), _name("team")
    owner, member, lead = (_user(admin) for _ in range(3))
    create_org(admin, org)
    add_member(admin, org, owner, is_admin=True)
    create_team(admin, org, team, [member])
    base = f"/orgs/{org}/teams/{team}"
    api_members = f"/enzi/v0/accounts/{org}/teams/{team}/members"

    def flags() -> dict[str, bool]:
        listed = ok(admin.get(api_members)).json()["members"]
        return {m["member"]["name"]: m["isAdmin"] for m in listed}

    with signed_in(module_server, member, PASSWORD) as (client, csrf):
        page = client.get(base).text
        assert "Make team admin" not in page  # not an owner: no form
        refused = client.post(
            f"{base}/members/{member}/role", data={"csrf_token": csrf, "role": "admin"}
        )
        assert refused.status_code == 403
    assert flags() == {member: False}
    with signed_in(module_server, owner, PASSWORD) as (client, csrf):
        added = client.post(
            f"{base}/members", data={"csrf_token": csrf, "name": lead, "is_admin": "on"}
        )
        assert added.status_code == 303
        promoted = client.post(
            f"{base}/members/{member}/role", data={"csrf_token": csrf, "role": "admin"}
        )
        assert promoted.status_code == 303
        assert promoted.headers["location"] == f"{base}?msg=team-member-role"
        assert flags() == {member: True, lead: True}
        page = client.get(promoted.headers["location"]).text
        assert "team role was saved" in page
        roles = dict(
            re.findall(
                r'data-team-member="([^"]+)">.*?<td class="team-role">(.*?)</td>', page, re.S
            )
        )
        assert all("team admin" in roles[name] for name in (member, lead)), roles
        demoted = client.post(
            f"{base}/members/{lead}/role", data={"csrf_token": csrf, "role": "member"}
        )
        assert demoted.status_code == 303
        missing = client.post(
            f"{base}/members/{owner}/role", data={"csrf_token": csrf, "role": "admin"}
        )
        assert missing.status_code == 404  # not in the team
    assert flags() == {member: True, lead: False}
