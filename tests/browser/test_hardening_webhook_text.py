"""The webhook Test button's failure, in Chromium: the server's sentence and the page's extra
facts together say each thing once (issue 8, item 24)."""

from __future__ import annotations

import socket
import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import login
from tests.fakes.server import RunningServer

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_a_failed_test_delivery_reads_once(page: Page, ui_server: RunningServer) -> None:
    repo = f"txt-{uuid.uuid4().hex[:6]}"
    with ui_server.client(auth=ui_server.admin_auth) as client:
        created = client.post("/api/v0/repositories/admin", json={"name": repo})
        assert created.status_code == 201, created.text
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])  # closed again: nothing listens there
    login(page, ui_server, "admin", ui_server.admin_password)
    page.goto(f"{ui_server.url}/repositories/admin/{repo}/webhooks/new")
    page.get_by_label("Notification to receive").select_option("TAG_PUSH")
    page.get_by_label("Webhook URL").fill(f"http://127.0.0.1:{port}/hook")
    page.get_by_role("button", name="Test").click()
    result = page.locator("#test-result")
    expect(result).to_have_class("testresult bad")
    expect(result).to_contain_text("Connection refused")
    text = result.inner_text()
    assert text.startswith("The test delivery failed after "), text
    for fact in ("network", "cannot connect", f"127.0.0.1:{port}", " ms", "Connection refused"):
        assert text.count(fact) == 1, (fact, text)
