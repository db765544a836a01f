"""The Promotions and Mirrors tabs in Chromium against the real server: a promotion policy made
with the rules editor promotes a tag pushed with skopeo (lastPromotedAt shown), Promote now
shows its result; a push mirroring policy to Debian's docker-registry started here, Run now
and its lastStatus, then the remote stopped and the error's text on the page; deleting asks
once. Screenshots of both tabs go to test-output/screenshots/."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Dialog, Page, expect

from tests.browser.conftest import _off_loop, login, shot
from tests.browser.test_ui import _name, api_create_repo, reload_until
from tests.fakes.databases import create_database, drop_database
from tests.fakes.oci import build_image, make_layer
from tests.fakes.server import RunningServer, make_server
from tests.fakes.skopeo import push
from tests.integration.test_mirroring_e2e import DOCKER_REGISTRY, Distribution, raw_digest

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """conftest's server (loopback remotes allowed), with a start that waits longer on a busy
    machine and never leaves a server behind when it does not come up."""
    folder = tmp_path_factory.mktemp("policy-browser-server")
    srv = make_server(
        folder, _off_loop(create_database, folder), {"DOCKYARD_WEBHOOK_BLOCKED_NETWORKS": ""}
    )
    try:
        srv.start(timeout=180)
        yield srv
    finally:
        srv.kill()
        _off_loop(drop_database, srv.database_url)


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[Distribution]:
    # `make test` installs it (scripts/install-system-deps.sh): missing fails, never skips.
    assert DOCKER_REGISTRY.exists(), "docker-registry is missing: run `make system-deps`"
    dist = Distribution(tmp_path / "remote")
    dist.start()
    yield dist
    dist.stop()


def _accept_once(page: Page) -> list[str]:
    """Accept the next confirmation, remembering what it asked."""
    asked: list[str] = []

    def accept(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    return asked


def test_promotion_policy_made_in_the_browser_promotes_a_pushed_tag(
    page: Page, ui_server: RunningServer, tmp_path: Path
) -> None:
    src, dst = _name("dev"), _name("prod")
    api_create_repo(ui_server, src)
    api_create_repo(ui_server, dst)
    login(page, ui_server, "admin", ui_server.admin_password)
    page.goto(f"{ui_server.url}/repositories/admin/{src}")
    page.get_by_role("navigation", name="Repository").get_by_role("link", name="Promotions").click()
    expect(page.get_by_text("No promotion policies yet")).to_be_visible()

    form = page.locator("#new-promotion")
    form.get_by_label("Target repository").fill(dst)
    form.get_by_label("Tag template").fill("%n-prod")
    form.locator("#promo-rule-0-field").select_option("tag")
    # The editor offers only the operators a field takes.
    expect(form.locator("#promo-rule-0-operator option[value=gte]")).to_be_disabled()
    form.locator("#promo-rule-0-operator").select_option("sw")
    form.locator("#promo-rule-0-values").fill("v")
    form.get_by_role("button", name="Add rule").click()
    expect(form.locator(".rule-row")).to_have_count(4)
    form.locator("#promo-rule-3-field").select_option("tag")
    form.locator("#promo-rule-3-operator").select_option("noo")
    form.locator("#promo-rule-3-values").fill("v0, v0.1")
    form.get_by_role("button", name="Create policy").click()
    expect(page.get_by_role("status")).to_contain_text("The promotion policy was created")
    row = page.locator("table.promotions tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text('Tag starts with "v"')
    expect(row).to_contain_text('Tag is not one of "v0", "v0.1"')
    expect(row.locator(".last-promoted")).to_have_text("never")

    image = build_image(tmp_path / "v1", [make_layer({"v1.txt": b"v1\n"})], tag="v1")
    push(image.ref("v1"), ui_server.host, f"admin/{src}:v1", ui_server.admin_auth)
    last = row.locator(".last-promoted")
    reload_until(page, lambda: last.inner_text() != "never", "lastPromotedAt", 90)
    expect(last).to_have_text(re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"))
    assert raw_digest(ui_server.host, f"admin/{dst}:v1-prod", ui_server.admin_auth) == (
        image.manifest_digest
    )
    shot(page, "promotions-tab")

    now = page.locator("#promote-now")
    now.get_by_label("Tag", exact=True).fill("v1")
    now.get_by_label("Target repository").fill(dst)
    now.get_by_label("Target tag").fill("hotfix")
    now.get_by_role("button", name="Promote now").click()
    expect(page.locator("#promotion-result")).to_contain_text(f"admin/{dst}:hotfix")
    now = page.locator("#promote-now")
    now.get_by_label("Tag", exact=True).fill("missing")
    now.get_by_label("Target repository").fill(dst)
    now.get_by_role("button", name="Promote now").click()
    expect(page.locator("#promote-now [role=alert]")).to_contain_text("has no tag 'missing'")

    asked = _accept_once(page)
    page.locator("table.promotions").get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_contain_text("The promotion policy was deleted")
    assert len(asked) == 1 and dst in asked[0]


def test_push_mirror_run_now_and_the_remote_down(
    page: Page, ui_server: RunningServer, remote: Distribution, tmp_path: Path
) -> None:
    repo = _name("mirror")
    api_create_repo(ui_server, repo)
    image = build_image(tmp_path / "rel", [make_layer({"rel.txt": b"release\n"})], tag="v1")
    push(image.ref("v1"), ui_server.host, f"admin/{repo}:v1", ui_server.admin_auth)
    login(page, ui_server, "admin", ui_server.admin_password)
    page.goto(f"{ui_server.url}/repositories/admin/{repo}")
    page.get_by_role("navigation", name="Repository").get_by_role("link", name="Mirrors").click()
    expect(page.get_by_text("No push mirroring policies yet")).to_be_visible()

    form = page.locator("#new-push")
    form.get_by_label("Remote host").fill(f"http://{remote.host}")
    form.get_by_label("Remote repository").fill("dr/app")
    form.get_by_label("Username").fill("mirror")
    form.get_by_label("Password or token").fill("never-shown-again")
    form.get_by_label("Tag template").fill("%n-dr")
    form.locator("#push-rule-0-field").select_option("tag")
    form.locator("#push-rule-0-operator").select_option("sw")
    form.locator("#push-rule-0-values").fill("v")
    form.get_by_label("Mirror the existing tags that meet the rules now").uncheck()
    form.get_by_role("button", name="Create push policy").click()
    expect(page.get_by_role("status")).to_contain_text("The push mirroring policy was created")
    assert "never-shown-again" not in page.content()
    row = page.locator("#push-policies tbody tr")
    expect(row.locator(".last-status")).to_contain_text("not run yet")

    row.get_by_label("Tag to mirror").fill("v1")
    row.get_by_role("button", name="Run now").click()
    expect(page.get_by_role("status")).to_contain_text("queued for mirroring")
    status = page.locator("#push-policies tbody tr .last-status .badge")
    reload_until(page, lambda: status.count() > 0 and status.inner_text() == "200", "200", 120)
    expect(row.locator(".status-detail")).to_contain_text(f"to http://{remote.host}/dr/app:v1-dr")
    expect(row.locator(".last-mirrored")).to_have_text(re.compile(r"\d{4}-\d\d-\d\d"))
    assert raw_digest(remote.host, "dr/app:v1-dr") == image.manifest_digest
    shot(page, "mirrors-tab")

    remote.stop()
    page.locator("#push-policies tbody tr").get_by_label("Tag to mirror").fill("v1")
    # The form posts and redirects; a reload issued while that navigation is in flight
    # finds no page attached, so wait for it to land before polling.
    with page.expect_navigation():
        page.locator("#push-policies tbody tr").get_by_role("button", name="Run now").click()
    expect(page.get_by_role("status")).to_contain_text("queued for mirroring")
    reload_until(page, lambda: status.inner_text() != "200", "a failed status", 120)
    detail = page.locator("#push-policies tbody tr .status-detail")
    expect(detail).to_contain_text(remote.host)
    text = detail.inner_text()
    with ui_server.client(auth=ui_server.admin_auth) as api:
        [policy] = api.get(f"/api/v0/repositories/admin/{repo}/pushMirroringPolicies").json()
    assert policy["lastStatus"]["code"] != 200
    assert text.strip() == policy["lastStatus"]["detail"].strip()  # shown in full
    shot(page, "mirrors-remote-down")

    asked = _accept_once(page)
    page.locator("#push-policies").get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_contain_text("The mirroring policy was deleted")
    assert len(asked) == 1 and "dr/app" in asked[0]


@pytest.mark.parametrize("width", [1280, 390])
def test_policy_tabs_fit_the_screen(
    browser_context_factory: Callable[..., BrowserContext], ui_server: RunningServer, width: int
) -> None:
    repo = _name("fit")
    api_create_repo(ui_server, repo)
    with ui_server.client(auth=ui_server.admin_auth) as api:
        r = api.post(
            f"/api/v0/repositories/admin/{repo}/pushMirroringPolicies?initialEvaluation=false",
            json={
                "remoteHost": "https://registry.example.com",
                "remoteRepository": "dr/a-rather-long-repository-name",
                "rules": [{"field": "vulnerability_critical", "operator": "eq", "values": ["0"]}],
                "tagTemplate": "%n-%Y%m%d",
            },
        )
        assert r.status_code == 201, r.text
    page = browser_context_factory(width=width).new_page()
    login(page, ui_server, "admin", ui_server.admin_password)
    for tab in ("promotions", "mirrors"):
        page.goto(f"{ui_server.url}/repositories/admin/{repo}/{tab}")
        expect(page.locator("main")).to_be_visible()
        expect(page.get_by_role("button", name="Add rule").first).to_be_visible()
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{tab} is wider than {width}px by {overflow}px"
        shot(page, f"{tab}-{width}")
