"""The web UI in Chromium: the seed's "Manage repository webhooks with the web interface" flow
end to end, tab visibility for a read-only user, Swagger UI offline with Execute, CSRF, and
screenshots of the main pages at desktop and phone widths."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from standardwebhooks import Webhook

from tests.browser.conftest import Receiver, TlsReceiver, login, shot
from tests.fakes import skopeo
from tests.fakes.oci import build_image
from tests.fakes.server import RunningServer

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll an outside effect (a receiver's log) until it holds; fail with `what` if never."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def reload_until(page: Page, check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Server-rendered pages do not update themselves: reload until the page shows `what`."""
    deadline = time.monotonic() + timeout
    while True:
        page.reload()
        if check():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the page never showed {what}")
        time.sleep(0.25)


def create_repo_in_ui(page: Page, server: RunningServer, name: str) -> None:
    page.goto(f"{server.url}/repositories")
    page.get_by_role("link", name="New repository").first.click()
    page.get_by_label("Repository name").fill(name)
    page.get_by_role("button", name="Create").click()
    expect(page).to_have_url(f"{server.url}/repositories/admin/{name}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)


def api_create_repo(server: RunningServer, name: str, visibility: str = "private") -> None:
    with server.client(auth=server.admin_auth) as client:
        answer = client.post(
            "/api/v0/repositories/admin", json={"name": name, "visibility": visibility}
        )
        assert answer.status_code == 201, answer.text


def test_repository_webhook_flow(
    page: Page,
    ui_server: RunningServer,
    http_receiver: Receiver,
    https_receiver: TlsReceiver,
    tmp_path: Path,
) -> None:
    repo = _name("web")
    login(page, ui_server, "admin", ui_server.admin_password)
    create_repo_in_ui(page, ui_server, repo)
    expect(page.get_by_text(f"docker pull {ui_server.host}/admin/{repo}")).to_be_visible()
    shot(page, "repository-info")

    # Webhooks tab -> New Webhook, TAG_PUSH to the HTTP receiver, Test shows the answer.
    page.get_by_role("navigation", name="Repository").get_by_role("link", name="Webhooks").click()
    expect(page.get_by_text("No webhooks yet")).to_be_visible()
    page.get_by_role("link", name="New Webhook").click()
    page.get_by_label("Notification to receive").select_option("TAG_PUSH")
    page.get_by_label("Webhook URL").fill(http_receiver.url)
    page.get_by_role("button", name="Test").click()
    result = page.locator("#test-result")
    expect(result).to_contain_text("Success")
    expect(result).to_contain_text("HTTP 200")
    expect(result).to_contain_text(" ms")
    tests_seen = [b for b in http_receiver.bodies() if b and b.get("type") == "TAG_PUSH"]
    assert tests_seen and tests_seen[-1]["contents"]["repository"] == "bar"
    shot(page, "webhook-new")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="Webhook created")).to_be_visible()
    secret = page.locator("#webhook-secret").inner_text().strip()
    assert secret.startswith("whsec_")
    shot(page, "webhook-created")

    # Advanced settings: a self-signed HTTPS receiver fails until its certificate is pasted.
    page.get_by_role("link", name="Back to webhooks").click()
    expect(page.locator("tr[data-webhook-id]")).to_have_count(1)
    page.get_by_role("link", name="New Webhook").click()
    page.get_by_label("Notification to receive").select_option("TAG_PUSH")
    page.get_by_label("Webhook URL").fill(https_receiver.receiver.url)
    page.get_by_role("button", name="Test").click()
    expect(result).to_have_class(re.compile(r"\bbad\b"))
    expect(result).to_contain_text(re.compile("tls|certificate", re.IGNORECASE))
    expect(page.get_by_label("TLS certificate")).to_be_hidden()
    page.get_by_text("Show advanced settings").click()
    page.get_by_label("TLS certificate").fill(https_receiver.ca_pem)
    expect(page.get_by_label("Skip TLS verification")).to_be_visible()
    page.get_by_role("button", name="Test").click()
    expect(result).to_contain_text("Success")
    assert https_receiver.receiver.bodies(), "the HTTPS receiver got no test payload"
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="Webhook created")).to_be_visible()
    page.get_by_role("link", name="Back to webhooks").click()
    rows = page.locator("tr[data-webhook-id]")
    expect(rows).to_have_count(2)
    shot(page, "webhooks-tab")

    # Push with skopeo: the delivery reaches the receiver and appears in the log.
    before = len(http_receiver.requests)
    image = build_image(tmp_path / "layout")
    skopeo.push(image.ref(), ui_server.host, f"admin/{repo}:latest", ui_server.admin_auth)

    def pushed() -> list[dict[str, object]]:
        with http_receiver.lock:
            return [
                r
                for r in http_receiver.requests[before:]
                if r["json"] and r["json"]["type"] == "TAG_PUSH"
            ]

    wait_for(lambda: bool(pushed()), "the TAG_PUSH delivery")
    delivered = pushed()[0]
    assert delivered["json"]["contents"]["repository"] == repo  # type: ignore[index]
    assert delivered["json"]["location"] == f"/repositories/admin/{repo}/tags/latest"  # type: ignore[index]
    # The secret shown once verifies the signature (Standard Webhooks).
    headers = {k.lower(): v for k, v in delivered["headers"].items()}  # type: ignore[union-attr]
    Webhook(secret).verify(delivered["raw"], headers)  # raises when the signature is wrong

    http_row = rows.filter(has_text=http_receiver.url)
    http_row.get_by_role("link", name="Deliveries").click()
    expect(page.get_by_role("heading", name="Webhook: TAG_PUSH")).to_be_visible()
    delivery_rows = page.locator("tr[data-delivery-id]")
    reload_until(
        page,
        lambda: delivery_rows.filter(has=page.locator(".badge.delivered")).count() >= 1,
        "a delivered delivery",
    )
    expect(delivery_rows.first).to_contain_text("200")
    expect(delivery_rows.first).to_contain_text("received by the test receiver")
    # Each attempt's request as it was sent, its signature included, never the secret.
    page.get_by_text("Requests sent and answers").first.click()
    sent = page.locator("pre.request-headers").first
    expect(sent).to_contain_text(f"webhook-signature: {headers['webhook-signature']}")
    expect(page.locator("main")).not_to_contain_text(secret)
    shot(page, "subscription-deliveries")

    # The location in the payload is a real page.
    location_page = page.context.new_page()
    location_page.goto(f"{ui_server.url}/repositories/admin/{repo}/tags/latest")
    expect(location_page.get_by_text(image.manifest_digest)).to_be_visible()
    shot(location_page, "tag")
    location_page.close()

    # Redeliver: the same event (same webhook-id) arrives again.
    event_id = headers["webhook-id"]
    count_before = len(http_receiver.requests)
    delivery_rows.first.get_by_role("button", name="Redeliver").click()
    expect(page.get_by_role("status")).to_contain_text("queued again")
    wait_for(
        lambda: any(
            r["headers"].get("webhook-id") == event_id
            for r in http_receiver.requests[count_before:]
        ),
        "the redelivery",
    )

    # "Redeliver failed since…" with nothing failed says so.
    page.get_by_role("button", name="Redeliver failed").click()
    expect(page.get_by_role("status")).to_contain_text("nothing to redeliver")

    # Deactivate, then delete with confirmation.
    page.get_by_role("button", name="Deactivate").click()
    expect(page.locator(".facts .badge")).to_have_text("inactive")
    expect(page.get_by_role("button", name="Activate")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").click()
    expect(page).to_have_url(re.compile(rf"/repositories/admin/{repo}/webhooks\?msg=deleted"))
    expect(page.get_by_role("status")).to_contain_text("deleted")
    expect(page.locator("tr[data-webhook-id]")).to_have_count(1)
    expect(page.locator("tr[data-webhook-id]").first).to_contain_text("https://")


def test_read_only_user_does_not_see_webhooks(
    browser_context_factory: Callable[[], BrowserContext], ui_server: RunningServer
) -> None:
    repo = _name("shared")
    reader = _name("reader")
    admin = browser_context_factory().new_page()
    login(admin, ui_server, "admin", ui_server.admin_password)
    create_repo_in_ui(admin, ui_server, repo)
    # Make it public (Settings tab): every signed-in user may read it.
    admin.get_by_role("navigation", name="Repository").get_by_role("link", name="Settings").click()
    admin.get_by_label("Public").check()
    admin.get_by_role("button", name="Save").click()
    expect(admin.get_by_role("status")).to_contain_text("Settings saved")
    # Create the reader on the admin Users page.
    admin.get_by_role("link", name="Users").click()
    admin.get_by_label("Username").fill(reader)
    admin.get_by_label("Password", exact=True).fill("reader-password-1")
    admin.get_by_role("button", name="Create user").click()
    expect(admin.get_by_role("status")).to_contain_text("The user was created")
    shot(admin, "admin-users")

    page = browser_context_factory().new_page()
    login(page, ui_server, reader, "reader-password-1")
    page.get_by_role("link", name=repo).click()
    tabs = page.get_by_role("navigation", name="Repository")
    expect(tabs.get_by_role("link", name="Info")).to_be_visible()
    expect(tabs.get_by_role("link", name="Tags")).to_be_visible()
    expect(tabs.get_by_role("link", name="Webhooks")).to_have_count(0)
    expect(tabs.get_by_role("link", name="Settings")).to_have_count(0)
    # Going there directly is refused with a page, not a stack trace.
    response = page.goto(f"{ui_server.url}/repositories/admin/{repo}/webhooks")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()


def test_api_page_runs_swagger_offline_with_the_session(
    page: Page, ui_server: RunningServer
) -> None:
    repo = _name("api")
    api_create_repo(ui_server, repo)
    outside: list[str] = []
    base = ui_server.url

    def guard(route: object) -> None:
        request = route.request  # type: ignore[attr-defined]
        if request.url.startswith(base) or request.url.startswith("data:"):
            route.continue_()  # type: ignore[attr-defined]
        else:
            outside.append(request.url)
            route.abort()  # type: ignore[attr-defined]

    page.route("**/*", guard)
    login(page, ui_server, "admin", ui_server.admin_password)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="API").click()
    op = page.locator("#operations-repositories-list_repositories_api_v0_repositories_get")
    if op.count() == 0:
        op = page.locator(".opblock-get").filter(
            has=page.locator('.opblock-summary-path[data-path="/api/v0/repositories"]')
        )
    expect(op).to_be_visible()
    shot(page, "api")
    op.locator(".opblock-summary").first.click()
    op.get_by_role("button", name="Try it out").click()
    op.get_by_role("button", name="Execute").click()
    live = op.locator(".live-responses-table")
    expect(live.locator("tbody .response-col_status").first).to_contain_text("200")
    expect(live).to_contain_text(repo)
    assert outside == [], f"the API page fetched outside resources: {outside}"


def test_forms_and_session_api_calls_need_the_csrf_token(
    page: Page, ui_server: RunningServer
) -> None:
    login(page, ui_server, "admin", ui_server.admin_password)
    request = page.context.request
    missing = request.post(
        f"{ui_server.url}/repositories/new",
        form={"namespace": "admin", "name": _name("nocsrf"), "visibility": "private"},
        max_redirects=0,
    )
    assert missing.status == 403
    assert "This form has expired" in missing.text()
    wrong = request.post(
        f"{ui_server.url}/repositories/new",
        form={"namespace": "admin", "name": _name("nocsrf"), "csrf_token": "forged"},
        max_redirects=0,
    )
    assert wrong.status == 403
    # The session cookie alone does not authenticate API calls: they need X-CSRF-Token.
    api = request.post(
        f"{ui_server.url}/api/v0/webhooks/test",
        data={"type": "TAG_PUSH", "endpoint": "http://127.0.0.1:9/"},
    )
    assert api.status == 401
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert token
    with_token = request.get(f"{ui_server.url}/api/v0/webhooks", headers={"X-CSRF-Token": token})
    assert with_token.status == 200
    # Security headers on pages.
    headers = page.goto(f"{ui_server.url}/repositories").headers  # type: ignore[union-attr]
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    cookie = next(c for c in page.context.cookies() if c["name"] == "dockyard_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"


def test_login_with_an_access_token_and_logout(page: Page, ui_server: RunningServer) -> None:
    with ui_server.client(auth=ui_server.admin_auth) as client:
        answer = client.post("/api/v0/api_tokens", json={"tokenLabel": "browser"})
        assert answer.status_code in (200, 201), answer.text
        token = answer.json()["token"]
    page.goto(f"{ui_server.url}/login")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password or access token").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("did not match")
    shot(page, "login-error")
    login(page, ui_server, "admin", token)
    page.get_by_text("admin", exact=False).locator("xpath=ancestor-or-self::summary").first.click()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to dockyard")).to_be_visible()
    page.goto(f"{ui_server.url}/repositories")
    expect(page).to_have_url(re.compile(r"/login\?next="))


@pytest.mark.parametrize("width", [1280, 390])
def test_main_pages_fit_the_screen(
    browser_context_factory: Callable[..., BrowserContext], ui_server: RunningServer, width: int
) -> None:
    repo = _name("layout")
    api_create_repo(ui_server, repo)
    page = browser_context_factory(width=width).new_page()
    login(page, ui_server, "admin", ui_server.admin_password)
    for path, name in [
        ("/repositories", "repositories"),
        (f"/repositories/admin/{repo}", "repository"),
        (f"/repositories/admin/{repo}/tags", "tags"),
        (f"/repositories/admin/{repo}/webhooks/new", "new-webhook"),
        ("/orgs/admin", "namespace"),
        ("/admin/webhooks", "global-webhooks"),
    ]:
        page.goto(f"{ui_server.url}{path}")
        expect(page.locator("main")).to_be_visible()
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{path} is wider than {width}px by {overflow}px"
        shot(page, f"{name}-{width}")
