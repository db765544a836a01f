"""Creating a webhook in the UI follows post/redirect/get: the answer to the form is a redirect,
the secret is shown by the first GET only, and reloading the result page creates nothing."""

from __future__ import annotations

import httpx
import pytest

from tests.fakes.server import RunningServer
from tests.integration.test_ui_pages import signed_in

pytestmark = pytest.mark.e2e


def _subscriptions(admin: httpx.Client, repo: str) -> list[dict[str, object]]:
    answer = admin.get(f"/api/v0/repositories/{repo}/webhooks")
    assert answer.status_code == 200, answer.text
    return list(answer.json())


def test_reloading_webhook_created_makes_no_second_webhook(module_server: RunningServer) -> None:
    srv = module_server
    with srv.client(auth=srv.admin_auth) as admin:
        made = admin.post(
            "/api/v0/repositories/admin", json={"name": "prg", "visibility": "private"}
        )
        assert made.status_code in (200, 201), made.text
        with signed_in(srv, *srv.admin_auth) as (client, csrf):
            form = {
                "csrf_token": csrf,
                "type": "TAG_PUSH",
                "endpoint": "https://ci.example.com/hooks/registry",
            }
            answer = client.post("/repositories/admin/prg/webhooks", data=form)
            assert answer.status_code == 303, answer.text
            result = answer.headers["location"]
            assert result.endswith("/created")
            first = client.get(result)
            assert first.status_code == 200 and 'id="webhook-secret"' in first.text
            # A reload is a GET of the same address: no new webhook, the secret not shown again.
            again = client.get(result)
            assert again.status_code == 303
            assert again.headers["location"] == result.removesuffix("/created")
            assert 'id="webhook-secret"' not in client.get(result, follow_redirects=True).text
        subs = _subscriptions(admin, "admin/prg")
        assert [s["endpoint"] for s in subs] == ["https://ci.example.com/hooks/registry"]
