"""UI pages over plain HTTP (no browser): sign-in redirects, HTML error pages, organization
pages with members, teams and team access, namespace and global webhooks, and CSRF on forms."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from tests.fakes.server import RunningServer

pytestmark = pytest.mark.e2e

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def url_cells(html: str) -> list[str]:
    """The URL cells of a webhook list or page, as the reader sees them: the cell keeps the
    URL whole with break points (<wbr>) after its separators, so it never wraps mid-word."""
    cells = re.findall(r'<(?:td|dd) class="wrap url">(.*?)</(?:td|dd)>', html)
    assert cells and all("<wbr>" in cell for cell in cells), cells
    return [cell.replace("<wbr>", "") for cell in cells]


@contextmanager
def signed_in(
    server: RunningServer, user: str, password: str
) -> Iterator[tuple[httpx.Client, str]]:
    """A client with a signed-in session cookie, and the session's CSRF token."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        token = CSRF.search(client.get("/login").text).group(1)  # type: ignore[union-attr]
        answer = client.post(
            "/login", data={"username": user, "password": password, "csrf_token": token}
        )
        assert answer.status_code == 303, answer.text
        page = client.get("/repositories")
        yield client, CSRF.search(page.text).group(1)  # type: ignore[union-attr]


def test_anonymous_pages_redirect_to_sign_in(module_server: RunningServer) -> None:
    with httpx.Client(base_url=module_server.url) as client:
        answer = client.get("/repositories/admin/x/tags/latest")
        assert answer.status_code == 303
        assert (
            answer.headers["location"] == "/login?next=%2Frepositories%2Fadmin%2Fx%2Ftags%2Flatest"
        )
        assert client.get("/login?next=https://evil.example/").status_code == 200


def test_wrong_password_is_a_page_not_a_redirect(module_server: RunningServer) -> None:
    with httpx.Client(base_url=module_server.url) as client:
        token = CSRF.search(client.get("/login").text).group(1)  # type: ignore[union-attr]
        answer = client.post(
            "/login", data={"username": "admin", "password": "nope", "csrf_token": token}
        )
        assert answer.status_code == 401
        assert "did not match an active account" in answer.text


def test_unknown_repository_is_an_html_404(module_server: RunningServer) -> None:
    with signed_in(module_server, "admin", module_server.admin_password) as (client, _):
        answer = client.get("/repositories/admin/does-not-exist")
        assert answer.status_code == 404
        assert answer.headers["content-type"].startswith("text/html")
        assert "does not exist, or you do not have access" in answer.text


def test_org_page_team_access_and_namespace_webhooks(module_server: RunningServer) -> None:
    org, team, repo = _name("org"), _name("team"), _name("repo")
    admin = module_server.client(auth=module_server.admin_auth)
    with admin:
        assert admin.post("/enzi/v0/accounts", json={"name": org, "isOrg": True}).status_code == 201
        assert admin.post(f"/enzi/v0/accounts/{org}/teams", json={"name": team}).status_code == 201
        created = admin.post(f"/api/v0/repositories/{org}", json={"name": repo})
        assert created.status_code == 201, created.text
    with signed_in(module_server, "admin", module_server.admin_password) as (client, token):
        page = client.get(f"/orgs/{org}")
        assert page.status_code == 200
        assert repo in page.text and team in page.text
        granted = client.post(
            f"/repositories/{org}/{repo}/teams",
            data={"team": team, "level": "read-write", "csrf_token": token},
        )
        assert granted.status_code == 303
        settings = client.get(f"/repositories/{org}/{repo}/settings?msg=team-saved")
        assert "Team access saved" in settings.text
        row = re.search(rf'<tr data-team-grant="{team}">(.*?)</tr>', settings.text, re.S)
        assert row and "<td>read-write</td>" in row.group(1)
        # Its Remove asks once, naming the access that ends.
        said = html.unescape(row.group(1))
        assert f"Remove the team {team}'s read-write access to {org}/{repo}?" in said
        removed = client.post(
            f"/repositories/{org}/{repo}/teams",
            data={"team": team, "level": "none", "csrf_token": token},
        )
        assert removed.status_code == 303
        after = client.get(f"/repositories/{org}/{repo}/settings").text
        assert f'data-team-grant="{team}"' not in after and "No team has access" in after

        # A REPO_EVENT webhook on the namespace, from the namespace page's form.
        form = client.get(f"/orgs/{org}/webhooks/new")
        assert 'value="REPO_EVENT"' in form.text and 'value="TAG_PUSH"' not in form.text
        made = client.post(
            f"/orgs/{org}/webhooks",
            data={"type": "REPO_CREATED", "endpoint": "https://example.com/h", "csrf_token": token},
        )
        assert made.status_code == 303, made.text  # post/redirect/get
        assert "whsec_" in client.get(made.headers["location"]).text
        listing = client.get(f"/orgs/{org}/webhooks")
        assert "REPO_CREATED" in listing.text
        assert url_cells(listing.text) == ["https://example.com/h"]

        # A blocked or malformed URL is explained, not a stack trace.
        bad = client.post(
            f"/repositories/{org}/{repo}/webhooks",
            data={"type": "TAG_PUSH", "endpoint": "not a url", "csrf_token": token},
        )
        assert bad.status_code == 400
        assert 'role="alert"' in bad.text


def test_global_webhooks_are_for_admins_only(module_server: RunningServer) -> None:
    user = _name("plain")
    with signed_in(module_server, "admin", module_server.admin_password) as (client, token):
        made = client.post(
            "/admin/webhooks",
            data={
                "type": "SCANNER_UPDATE_COMPLETED",
                "endpoint": "https://example.com/scanner",
                "csrf_token": token,
            },
        )
        assert made.status_code == 303, made.text  # post/redirect/get
        assert "https://example.com/scanner" in url_cells(client.get("/admin/webhooks").text)
        created = client.post(
            "/admin/users",
            data={"name": user, "password": "plain-password", "csrf_token": token},
        )
        assert created.status_code == 303
    with signed_in(module_server, user, "plain-password") as (other, _):
        assert other.get("/admin/webhooks").status_code == 403
        assert other.get("/admin/users").status_code == 403
        assert "/admin/webhooks" not in other.get("/repositories").text


def test_deactivated_user_loses_the_session(module_server: RunningServer) -> None:
    user = _name("leaver")
    with signed_in(module_server, "admin", module_server.admin_password) as (admin, token):
        admin.post(
            "/admin/users", data={"name": user, "password": "leaver-password", "csrf_token": token}
        )
        with signed_in(module_server, user, "leaver-password") as (leaver, _):
            assert leaver.get("/repositories").status_code == 200
            answer = admin.post(
                f"/admin/users/{user}", data={"action": "deactivate", "csrf_token": token}
            )
            assert answer.status_code == 303
            assert leaver.get("/repositories").status_code == 303  # back to sign-in


def test_namespace_page_lists_its_repositories_in_pages(module_server: RunningServer) -> None:
    org = _name("many")
    with module_server.client(auth=module_server.admin_auth) as admin:
        assert admin.post("/enzi/v0/accounts", json={"name": org, "isOrg": True}).status_code == 201
        for i in range(51):
            made = admin.post(f"/api/v0/repositories/{org}", json={"name": f"r{i:02d}"})
            assert made.status_code == 201, made.text
    rows = re.compile(rf'href="/repositories/{org}/(r\d\d)"')
    with signed_in(module_server, "admin", module_server.admin_password) as (client, _):
        first = client.get(f"/orgs/{org}").text
        assert "Repositories (51)" in first and len(rows.findall(first)) == 50
        assert f'href="/orgs/{org}?page_no=2" rel="next"' in first
        second = client.get(f"/orgs/{org}?page_no=2").text
        assert len(rows.findall(second)) == 1 and 'rel="next"' not in second
        assert not set(rows.findall(first)) & set(rows.findall(second))
        past = client.get(f"/orgs/{org}?page_no=9")
        assert past.status_code == 200 and "No more repositories" in past.text
