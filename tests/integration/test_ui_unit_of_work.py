"""The web UI over the request's unit of work (no page commits by hand): a redirect after a
POST is sent after the commit, a form that fails is shown again with what it had read (read
again after the rollback) and leaves nothing behind, and the namespaces offered for a new
repository are those the namespace rule grants ADMIN on (its SQL rendering)."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.fakes.server import RunningServer
from tests.integration.test_ui_pages import signed_in

pytestmark = pytest.mark.e2e

OPTION = re.compile(r'<option value="([^"]+)"')


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def test_a_created_repository_is_there_when_the_redirect_arrives(
    module_server: RunningServer,
) -> None:
    repo = _name("uow")
    with signed_in(module_server, "admin", module_server.admin_password) as (client, token):
        form = {"namespace": "admin", "name": repo, "visibility": "private", "csrf_token": token}
        made = client.post("/repositories/new", data=form)
        assert made.status_code == 303
        assert made.headers["location"] == f"/repositories/admin/{repo}"
        assert client.get(made.headers["location"]).status_code == 200

        # The same name again: the form again, with its namespaces read after the rollback.
        again = client.post("/repositories/new", data=form)
        assert again.status_code == 400
        assert 'role="alert"' in again.text
        assert "admin" in OPTION.findall(again.text)


def test_failed_settings_forms_show_the_repository_and_keep_nothing(
    module_server: RunningServer,
) -> None:
    org, repo = _name("uoworg"), _name("repo")
    admin = module_server.client(auth=module_server.admin_auth)
    with admin:
        assert admin.post("/enzi/v0/accounts", json={"name": org, "isOrg": True}).status_code == 201
        made = admin.post(f"/api/v0/repositories/{org}", json={"name": repo})
        assert made.status_code == 201, made.text
    with signed_in(module_server, "admin", module_server.admin_password) as (client, token):
        unknown_team = client.post(
            f"/repositories/{org}/{repo}/teams",
            data={"team": "no-such-team", "level": "read-only", "csrf_token": token},
        )
        assert unknown_team.status_code == 400
        assert f"{org}/{repo}" in unknown_team.text and 'role="alert"' in unknown_team.text

        bad_settings = client.post(
            f"/repositories/{org}/{repo}/settings",
            data={"short": "changed", "visibility": "sideways", "csrf_token": token},
        )
        assert bad_settings.status_code == 400
        assert f"{org}/{repo}" in bad_settings.text

        blocked = client.post(
            f"/repositories/{org}/{repo}/webhooks",
            data={"type": "TAG_PUSH", "endpoint": "not a url", "csrf_token": token},
        )
        assert blocked.status_code == 400
        assert f"{org}/{repo}" in blocked.text
    with module_server.client(auth=module_server.admin_auth) as admin:
        shown = admin.get(f"/api/v0/repositories/{org}/{repo}").json()
        assert shown["shortDescription"] == "" and shown["visibility"] == "private"
        hooks = admin.get(f"/api/v0/repositories/{org}/{repo}/webhooks")
        assert hooks.status_code == 200 and hooks.json() == []


def test_new_repository_namespaces_follow_the_namespace_rule(module_server: RunningServer) -> None:
    user, team_admin, team_write = _name("maker"), _name("t-admin"), _name("t-write")
    owned, granted, member_only, stranger = (_name(p) for p in ("own", "grant", "memb", "str"))
    with module_server.client(auth=module_server.admin_auth) as admin:
        made = admin.post("/enzi/v0/accounts", json={"name": user, "password": "maker-password"})
        assert made.status_code == 201, made.text
        for org in (owned, granted, member_only, stranger):
            assert admin.post("/enzi/v0/accounts", json={"name": org, "isOrg": True}).is_success
        assert admin.put(f"/enzi/v0/accounts/{owned}/members/{user}", json={"isAdmin": True})
        for org, team, level in (
            (granted, team_admin, "admin"),
            (member_only, team_write, "read-write"),
        ):
            assert admin.put(f"/enzi/v0/accounts/{org}/members/{user}", json={}).is_success
            assert admin.post(f"/enzi/v0/accounts/{org}/teams", json={"name": team}).is_success
            added = admin.put(f"/enzi/v0/accounts/{org}/teams/{team}/members/{user}", json={})
            assert added.is_success, added.text
            grant = admin.put(
                f"/api/v0/repositoryNamespaces/{org}/teamAccess/{team}",
                json={"accessLevel": level},
            )
            assert grant.is_success, grant.text
    with signed_in(module_server, user, "maker-password") as (client, _):
        offered = OPTION.findall(client.get("/repositories/new").text)
    # The own namespace first, then by name; a read-write team or no membership is not enough.
    assert offered == [user, *sorted((owned, granted))]
    assert member_only not in offered and stranger not in offered
