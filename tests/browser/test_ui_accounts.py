"""Your account, organizations and teams in Chromium: a new user changes the password an
administrator gave them, makes an access token and pushes with it (skopeo); an organization's
owner adds a member and a team with read-write access to a repository, and that member pushes.
Every create is reloaded (post/redirect/get: nothing happens twice), every destructive action
asks once and says what else goes, screenshots of each page, and no request leaves the server."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Dialog, Page, Request, expect

from tests.browser.conftest import login, shot
from tests.fakes import skopeo
from tests.fakes.oci import build_image
from tests.fakes.server import RunningServer

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

FIRST_PASSWORD = "given-by-the-admin"
NEW_PASSWORD = "chosen-by-the-user"


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def own_host_only(ui_server: RunningServer) -> Iterator[Callable[[Page], None]]:
    """Watch pages' requests; at the end, every one went to the server under test."""
    foreign: list[str] = []

    def watch(page: Page) -> None:
        def seen(request: Request) -> None:
            url = request.url
            if not url.startswith((ui_server.url + "/", "data:", "blob:", "about:")):
                foreign.append(url)

        page.on("request", seen)

    yield watch
    assert foreign == [], f"requests to another host: {foreign}"


def _accept(expected: list[str]) -> Callable[[Dialog], None]:
    """Accept the next confirmation, keeping its text."""

    def accept(dialog: Dialog) -> None:
        expected.append(dialog.message)
        dialog.accept()

    return accept


def _admin(server: RunningServer) -> httpx.Client:
    return server.client(auth=server.admin_auth)


def test_new_user_changes_password_makes_a_token_and_pushes_with_it(
    browser_context_factory: Callable[..., BrowserContext],
    ui_server: RunningServer,
    own_host_only: Callable[[Page], None],
    tmp_path: Path,
) -> None:
    user = _name("newbie")
    admin_page = browser_context_factory().new_page()
    own_host_only(admin_page)
    login(admin_page, ui_server, "admin", ui_server.admin_password)
    admin_page.goto(f"{ui_server.url}/admin/users")
    admin_page.get_by_label("Username").fill(user)
    admin_page.get_by_label("Password", exact=True).fill(FIRST_PASSWORD)
    admin_page.get_by_role("button", name="Create user").click()
    expect(admin_page.get_by_text("The user was created")).to_be_visible()
    admin_page.reload()  # a GET: no second user, no error
    expect(admin_page.get_by_role("cell", name=user, exact=True)).to_have_count(1)
    shot(admin_page, "admin-users")

    page = browser_context_factory().new_page()
    own_host_only(page)
    login(page, ui_server, user, FIRST_PASSWORD)
    page.get_by_text(user, exact=True).first.click()  # the user menu
    page.get_by_role("link", name="Your account").click()
    expect(page.get_by_role("heading", name="Change your password")).to_be_visible()
    shot(page, "account-profile")
    page.get_by_label("Current password").fill("not-my-password")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Repeat the new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_contain_text("current password is wrong")
    page.get_by_label("Current password").fill(FIRST_PASSWORD)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Repeat the new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("status")).to_contain_text("Your password was changed")
    page.reload()
    expect(page.get_by_role("heading", name="Change your password")).to_be_visible()
    with httpx.Client(base_url=ui_server.url) as client:
        assert client.get("/api/v0/api_tokens", auth=(user, FIRST_PASSWORD)).status_code == 401
        assert client.get("/api/v0/api_tokens", auth=(user, NEW_PASSWORD)).status_code == 200

    page.get_by_role("navigation", name="Account").get_by_role("link", name="Access tokens").click()
    expect(page.get_by_text("You have no access tokens")).to_be_visible()
    shot(page, "account-tokens-empty")
    page.get_by_label("Label").fill("ci-push")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_role("heading", name="Token created")).to_be_visible()
    token = page.locator("#new-token").inner_text().strip()
    assert len(token) >= 32
    copy = page.locator("button[data-copy='#new-token']")
    copy.click()
    expect(copy).to_have_text(re.compile("Copied|Select and copy"))  # it says what happened
    shot(page, "account-token-created")
    page.reload()  # the token is not shown again, and no second one is made
    expect(page).to_have_url(f"{ui_server.url}/account/tokens")
    expect(page.locator("tr[data-token-label]")).to_have_count(1)
    assert token not in page.content()
    shot(page, "account-tokens")

    # The token is the password's equal for the API and for skopeo.
    with httpx.Client(base_url=ui_server.url, auth=(user, token)) as client:
        made = client.post(f"/api/v0/repositories/{user}", json={"name": "tool"})
        assert made.status_code == 201, made.text
    image = build_image(tmp_path / "layout")
    skopeo.push(image.ref(), ui_server.host, f"{user}/tool:1.0", (user, token))
    with _admin(ui_server) as client:
        tags = client.get(f"/api/v0/repositories/{user}/tool/tags").json()
        assert [t["name"] for t in tags] == ["1.0"]
        listed = client.get(f"/api/v0/api_tokens?username={user}").json()
        assert not listed[0]["lastUsed"].startswith("0001"), "the push did not use the token"
    page.reload()
    expect(page.locator("tr[data-token-label] td").nth(2)).not_to_have_text("never")
    # An administrator sees the same token, and its use, on the user's page.
    admin_page.goto(f"{ui_server.url}/admin/users")
    admin_page.get_by_role("link", name=user, exact=True).click()
    expect(admin_page.get_by_role("heading", name=f"User {user}")).to_be_visible()
    row = admin_page.locator("tr[data-token-label='ci-push']")
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(2)).not_to_have_text("never")
    assert token not in admin_page.content()
    shot(admin_page, "admin-user-tokens")

    page.get_by_role("navigation", name="Account").get_by_role("link", name="Organizations").click()
    expect(page.get_by_text("You are not a member of any organization yet")).to_be_visible()
    shot(page, "account-organizations")

    page.get_by_role("navigation", name="Account").get_by_role("link", name="Access tokens").click()
    asked: list[str] = []
    page.once("dialog", _accept(asked))
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status")).to_contain_text("The token was revoked")
    assert len(asked) == 1 and "docker logins that use it are refused" in asked[0]
    denied = skopeo.skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        f"{user}:{token}",
        image.ref(),
        f"docker://{ui_server.host}/{user}/tool:1.1",
        check=False,
    )
    assert denied.returncode != 0


def test_org_owner_adds_a_member_and_a_team_that_pushes(
    browser_context_factory: Callable[..., BrowserContext],
    ui_server: RunningServer,
    own_host_only: Callable[[Page], None],
    tmp_path: Path,
) -> None:
    org, owner, member, team = _name("org"), _name("owner"), _name("dev"), _name("builders")
    with _admin(ui_server) as client:
        for name in (owner, member):
            made = client.post("/enzi/v0/accounts", json={"name": name, "password": NEW_PASSWORD})
            assert made.status_code == 201, made.text
        assert client.post("/enzi/v0/accounts", json={"name": org, "isOrg": True}).is_success
        assert client.put(
            f"/enzi/v0/accounts/{org}/members/{owner}", json={"isAdmin": True}
        ).is_success
        assert client.post(f"/api/v0/repositories/{org}", json={"name": "app"}).is_success

    page = browser_context_factory().new_page()
    own_host_only(page)
    login(page, ui_server, owner, NEW_PASSWORD)
    page.goto(f"{ui_server.url}/orgs/{org}")
    tabs = page.get_by_role("navigation", name="Organization")
    tabs.get_by_role("link", name="Members").click()
    page.get_by_label("Username").fill(member)
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_role("status")).to_contain_text("The member was added")
    page.reload()
    expect(page.locator("tr[data-member]")).to_have_count(2)
    shot(page, "org-members")

    tabs.get_by_role("link", name="Teams").click()
    expect(page.get_by_text(f"{org} has no teams yet")).to_be_visible()
    shot(page, "org-teams-empty")
    page.get_by_label("Name", exact=True).fill(team)
    page.get_by_role("button", name="Create team").click()
    expect(page.get_by_role("heading", name=f"Team {team}")).to_be_visible()
    page.reload()
    page.get_by_label("Username").fill(member)
    page.get_by_role("button", name="Add to team").click()
    expect(page.get_by_role("status")).to_contain_text("added to the team")
    page.reload()
    page.get_by_label("Repository", exact=True).fill("app")
    page.get_by_label("Access", exact=True).select_option("read-write")
    page.get_by_role("button", name="Grant access").click()
    expect(page.get_by_role("status")).to_contain_text("repository access was saved")
    page.reload()
    expect(page.locator("tr[data-team-member]")).to_have_count(1)
    expect(page.locator("tr[data-grant='app']")).to_contain_text("read-write")
    shot(page, "org-team")
    tabs.get_by_role("link", name="Teams").click()
    expect(page.locator("table.list tbody tr")).to_have_count(1)
    shot(page, "org-teams")

    # The member sees the organization's tabs, but none of the owner's forms.
    member_page = browser_context_factory().new_page()
    own_host_only(member_page)
    login(member_page, ui_server, member, NEW_PASSWORD)
    member_page.goto(f"{ui_server.url}/orgs/{org}/teams/{team}")
    expect(member_page.locator("tr[data-grant='app']")).to_contain_text("read-write")
    expect(member_page.get_by_role("button", name="Delete team")).to_have_count(0)
    expect(member_page.get_by_role("button", name="Add to team")).to_have_count(0)
    member_page.goto(f"{ui_server.url}/account/organizations")
    expect(member_page.get_by_role("link", name=org)).to_be_visible()

    image = build_image(tmp_path / "layout")
    skopeo.push(image.ref(), ui_server.host, f"{org}/app:v1", (member, NEW_PASSWORD))
    with _admin(ui_server) as client:
        tags = client.get(f"/api/v0/repositories/{org}/app/tags").json()
        assert [t["name"] for t in tags] == ["v1"]

    # Deleting the team asks once, saying what goes with it; the member can push no more.
    page.goto(f"{ui_server.url}/orgs/{org}/teams/{team}")
    asked: list[str] = []
    page.once("dialog", _accept(asked))
    page.get_by_role("button", name="Delete team").click()
    expect(page.get_by_role("status")).to_contain_text("The team was deleted")
    assert len(asked) == 1
    assert "1 member leaves it" in asked[0] and "access to 1 repository is revoked" in asked[0]
    refused = skopeo.skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        f"{member}:{NEW_PASSWORD}",
        image.ref(),
        f"docker://{ui_server.host}/{org}/app:v2",
        check=False,
    )
    assert refused.returncode != 0
