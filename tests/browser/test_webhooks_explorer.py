"""The seed's "API → Try it out → Execute" step in Chromium: the API explorer prefills
POST /api/v0/webhooks with the seed's example body, and Execute creates the webhook; the test
operation's prefilled body, pointed at a receiver, sends a sample that arrives."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import Receiver, login
from tests.browser.test_ui import wait_for
from tests.fakes.server import RunningServer

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def _operation(page: Page, method: str, path: str) -> Locator:
    op = page.locator(f".opblock-{method}").filter(
        has=page.locator(f'.opblock-summary-path[data-path="{path}"]')
    )
    expect(op).to_be_visible()
    op.locator(".opblock-summary").first.click()
    op.get_by_role("button", name="Try it out").click()
    return op


def _seed_repository(server: RunningServer) -> None:
    """The example's key, foo/bar: an organization foo with a repository bar."""
    with server.client(auth=server.admin_auth) as client:
        made = client.post("/enzi/v0/accounts", json={"name": "foo", "isOrg": True})
        assert made.status_code in (201, 409), made.text
        repo = client.post("/api/v0/repositories/foo", json={"name": "bar"})
        assert repo.status_code in (201, 409), repo.text


def test_explorer_creates_a_webhook_with_the_example_and_tests_one(
    page: Page, ui_server: RunningServer, http_receiver: Receiver
) -> None:
    _seed_repository(ui_server)
    login(page, ui_server, "admin", ui_server.admin_password)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="API").click()

    create = _operation(page, "post", "/api/v0/webhooks")
    body = create.locator("textarea.body-param__text")
    assert json.loads(body.input_value()) == {
        "type": "TAG_PUSH",
        "key": "foo/bar",
        "endpoint": "https://example.com",
    }
    create.get_by_role("button", name="Execute").click()
    live = create.locator(".live-responses-table")
    expect(live.locator("tbody .response-col_status").first).to_contain_text("201")
    expect(live).to_contain_text("whsec_")
    with ui_server.client(auth=ui_server.admin_auth) as client:
        listed = client.get("/api/v0/repositories/foo/bar/webhooks").json()
    assert [(w["type"], w["endpoint"]) for w in listed] == [("TAG_PUSH", "https://example.com")]

    test = _operation(page, "post", "/api/v0/webhooks/test")
    body = test.locator("textarea.body-param__text")
    example = json.loads(body.input_value())
    assert example["type"] == "TAG_PUSH"
    before = len(http_receiver.requests)
    body.fill(json.dumps({**example, "endpoint": f"{http_receiver.url}/explorer"}))
    test.get_by_role("button", name="Execute").click()
    expect(test.locator(".live-responses-table tbody .response-col_status").first).to_contain_text(
        "200"
    )
    wait_for(lambda: len(http_receiver.requests) > before, "the test delivery")
