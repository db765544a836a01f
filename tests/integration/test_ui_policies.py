"""The Promotions and Mirrors tabs over plain HTTP against the real server: only repository
admins see and use them; a promotion policy created in a form promotes a pushed tag (its
lastPromotedAt shown); Promote now shows the result or the service's error; a bad rule or
remote is shown on the page (400, never a 500) and a password is never rendered back; Run now
queues the policy's job and the page shows lastStatus with the error's text in full."""

from __future__ import annotations

import html
import re
import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.fakes.databases import create_database, drop_database
from tests.fakes.server import RunningServer, free_port, make_server
from tests.integration.registry_helpers import push
from tests.integration.test_ui_pages import signed_in

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The shared module server, with a start that waits longer on a busy machine and never
    leaves a server behind when it does not come up."""
    folder = tmp_path_factory.mktemp("policy-ui-server")
    srv = make_server(folder, create_database(folder))
    try:
        srv.start(timeout=180)
        yield srv
    finally:
        srv.kill()
        drop_database(srv.database_url)


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _repo(server: RunningServer, name: str, visibility: str = "private") -> None:
    with server.client(auth=server.admin_auth) as api:
        r = api.post("/api/v0/repositories/admin", json={"name": name, "visibility": visibility})
        assert r.status_code == 201, r.text


def _push(server: RunningServer, repo: str, tag: str, layer: bytes) -> str:
    with server.client(auth=server.admin_auth) as api:
        return push(api, f"admin/{repo}", tag, layer)


def _until(check: Callable[[], object], what: str, timeout: float = 90) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def _text(page: httpx.Response) -> str:
    return html.unescape(page.text)


def test_only_repository_admins_see_and_use_the_tabs(module_server: RunningServer) -> None:
    repo, reader = _name("shared"), _name("reader")
    _repo(module_server, repo, "public")
    with module_server.client(auth=module_server.admin_auth) as api:
        r = api.post("/enzi/v0/accounts", json={"name": reader, "password": "reader-pass-1"})
        assert r.status_code == 201, r.text
    with signed_in(module_server, "admin", module_server.admin_password) as (admin, _):
        info = admin.get(f"/repositories/admin/{repo}")
        assert f"/repositories/admin/{repo}/promotions" in info.text
        assert f"/repositories/admin/{repo}/mirrors" in info.text
    with signed_in(module_server, reader, "reader-pass-1") as (client, token):
        info = client.get(f"/repositories/admin/{repo}")
        assert info.status_code == 200
        assert "/promotions" not in info.text and "/mirrors" not in info.text
        for tab in ("promotions", "mirrors"):
            page = client.get(f"/repositories/admin/{repo}/{tab}")
            assert page.status_code == 403 and "Not allowed" in page.text
        for path in ("promotions", "mirrors/poll", "promotion"):
            form = {"csrf_token": token, "target_repository": repo, "remote_host": "http://x"}
            refused = client.post(f"/repositories/admin/{repo}/{path}", data=form)
            assert refused.status_code == 403, (path, refused.text)
        with module_server.client(auth=module_server.admin_auth) as api:
            policies = api.get(f"/api/v0/repositories/admin/{repo}/mirroringPolicies").json()
            assert policies == []


def test_promotion_policy_from_the_form_promotes_and_promote_now(
    module_server: RunningServer,
) -> None:
    src, dst = _name("dev"), _name("prod")
    _repo(module_server, src)
    _repo(module_server, dst)
    base = f"/repositories/admin/{src}/promotions"
    with signed_in(module_server, "admin", module_server.admin_password) as (client, token):
        page = client.get(base)
        assert page.status_code == 200 and "No promotion policies yet" in page.text
        form = {
            "csrf_token": token,
            "target_namespace": "admin",
            "target_repository": dst,
            "tag_template": "%n-prod",
            "rule-0-field": "tag",
            "rule-0-operator": "zz",
            "rule-0-values": "v",
            "rule-1-field": "",
            "enabled": "on",
            "initial": "on",
        }
        bad = client.post(base, data=form)
        assert bad.status_code == 400
        assert "rule 1 (tag zz)" in _text(bad) and 'role="alert"' in bad.text
        assert 'value="' + dst + '"' in bad.text  # the form keeps what was typed
        assert 'name="rule-0-values" value="v"' in bad.text
        assert 'name="rule-1-values" value=""' in bad.text  # then empty rows
        missing = client.post(base, data={**form, "target_repository": "nope-" + dst})
        assert missing.status_code == 400 and "does not exist" in _text(missing)

        created = client.post(base, data={**form, "rule-0-operator": "sw"}, follow_redirects=False)
        assert created.status_code == 303, created.text
        page = client.get(str(created.headers["location"]))
        assert "The promotion policy was created" in page.text
        assert 'Tag starts with "v"' in _text(page)
        assert f"admin/{dst}" in page.text and "%n-prod" in page.text
        assert re.search(r'class="last-promoted">never<', page.text)

        digest = _push(module_server, src, "v1", b"layer v1")
        with module_server.client(auth=module_server.admin_auth) as api:

            def promoted() -> bool:
                r = api.get(f"/api/v0/repositories/admin/{dst}/tags/v1-prod")
                return r.status_code == 200

            _until(promoted, "the policy's promotion of v1")
        page = client.get(base)
        assert not re.search(r'class="last-promoted">never<', page.text)
        assert re.search(r'class="last-promoted">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC<', page.text)

        _push(module_server, src, "dev", b"layer dev")
        manual = {
            "csrf_token": token,
            "tag": "dev",
            "target_namespace": "admin",
            "target_repository": dst,
            "target_tag": "hotfix",
        }
        done = client.post(
            f"/repositories/admin/{src}/promotion", data=manual, follow_redirects=True
        )
        assert done.status_code == 200 and "promotion-result" in done.text
        assert f"admin/{dst}:hotfix" in done.text
        nothing = client.post(
            f"/repositories/admin/{src}/promotion", data={**manual, "tag": "gone"}
        )
        assert nothing.status_code == 400 and "has no tag 'gone'" in _text(nothing)
        bad_tag = client.post(
            f"/repositories/admin/{src}/promotion", data={**manual, "target_tag": "-bad"}
        )
        assert bad_tag.status_code == 400 and "is not a valid tag" in _text(bad_tag)

        policy_id = re.search(r'data-policy-id="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        gone = client.post(
            f"{base}/{policy_id}/delete", data={"csrf_token": token}, follow_redirects=True
        )
        assert "The promotion policy was deleted" in gone.text
        assert "No promotion policies yet" in gone.text
    with module_server.client(auth=module_server.admin_auth) as api:
        assert api.get(f"/api/v0/repositories/admin/{src}/promotionPolicies").json() == []
        tag = api.get(f"/api/v0/repositories/admin/{dst}/tags/v1-prod").json()
        assert tag[0]["digest"] == digest


def test_mirroring_forms_never_show_the_secret_and_show_the_last_status(
    module_server: RunningServer,
) -> None:
    repo = _name("mirror")
    _repo(module_server, repo)
    _push(module_server, repo, "v1", b"layer mirror")
    base = f"/repositories/admin/{repo}/mirrors"
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    secret = "s3cret-" + uuid.uuid4().hex
    with signed_in(module_server, "admin", module_server.admin_password) as (client, token):
        page = client.get(base)
        assert "No push mirroring policies yet" in page.text
        form = {
            "csrf_token": token,
            "remote_host": "ftp://nowhere",
            "remote_repository": "dr/app",
            "username": "mirror",
            "password": secret,
            "tag_template": "%n",
            "rule-0-field": "tag",
            "rule-0-operator": "sw",
            "rule-0-values": "v",
            "enabled": "on",
        }
        bad = client.post(f"{base}/push", data=form)
        assert bad.status_code == 400
        assert "remoteHost must be an http:// or https:// URL" in _text(bad)
        assert secret not in bad.text and 'value="ftp://nowhere"' in bad.text
        bad_rule = client.post(
            f"{base}/push", data={**form, "remote_host": down, "rule-0-values": ""}
        )
        assert bad_rule.status_code == 400 and "values must not be empty" in _text(bad_rule)

        created = client.post(
            f"{base}/push", data={**form, "remote_host": down}, follow_redirects=True
        )
        assert "The push mirroring policy was created" in created.text
        assert secret not in created.text and "as mirror" in created.text
        assert 'Tag starts with "v"' in _text(created) and "not run yet" in created.text
        poll = client.post(
            f"{base}/poll",
            data={
                "csrf_token": token,
                "remote_host": down,
                "remote_repository": "up/app",
                "password": secret,
                "enabled": "on",
            },
            follow_redirects=True,
        )
        assert "The poll mirroring policy was created" in poll.text and secret not in poll.text
        ids = re.findall(r'data-policy-id="([^"]+)"', poll.text)
        assert len(ids) == 2
        push_id, poll_id = ids

        no_tag = client.post(f"{base}/{push_id}/run", data={"csrf_token": token, "tag": "zzz"})
        assert no_tag.status_code == 400 and "has no tag 'zzz'" in _text(no_tag)
        queued = client.post(
            f"{base}/{push_id}/run", data={"csrf_token": token, "tag": "v1"}, follow_redirects=True
        )
        assert "queued for mirroring" in queued.text
        queued = client.post(
            f"{base}/{poll_id}/run", data={"csrf_token": token}, follow_redirects=True
        )
        assert "The poll is queued" in queued.text

        def failed_twice() -> str | None:
            text = _text(client.get(base))
            details = re.findall(r'class="status-detail">([^<]+)<', text)
            return text if len(details) == 2 else None

        text = str(_until(failed_twice, "both policies' failed last status"))
        assert text.count('class="badge failed">502<') == 2
        with module_server.client(auth=module_server.admin_auth) as api:
            wire = api.get(f"/api/v0/repositories/admin/{repo}/mirroringPolicies").json()
        for policy in wire:
            # The page shows the status detail whole, as the API returns it.
            assert html.escape(policy["lastStatus"]["detail"], quote=False) in client.get(base).text

        for policy_id in (push_id, poll_id):
            gone = client.post(
                f"{base}/{policy_id}/delete", data={"csrf_token": token}, follow_redirects=True
            )
            assert "The mirroring policy was deleted" in gone.text
        assert "No poll mirroring policies yet" in gone.text
