"""The scanning UI in Chromium: an admin uploads an OSV bundle on the Vulnerability database
page, pushes the fixture image, sees the scan complete on the Tags tab and opens the tag page
with its vulnerabilities (screenshots of both pages)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import login, shot
from tests.browser.test_ui import _name, api_create_repo, reload_until
from tests.fakes import osv
from tests.fakes.scan_images import build_debian_image
from tests.fakes.server import RunningServer
from tests.fakes.skopeo import push

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_tag_page_shows_vulnerabilities(
    page: Page, ui_server: RunningServer, tmp_path: Path
) -> None:
    repo = _name("scan")
    login(page, ui_server, "admin", ui_server.admin_password)

    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Vulnerability database"
    ).click()
    expect(page.get_by_role("heading", name="Vulnerability database", level=1)).to_be_visible()
    page.get_by_label("OSV archive").set_input_files(str(osv.write_zip(tmp_path / "all.zip")))
    page.get_by_role("button", name="Upload and import").click()
    expect(page.get_by_role("status")).to_contain_text("being imported")
    version, queued = page.locator("#db-version"), page.locator("#db-queued")
    loaded = page.locator("td.replica-version")
    reload_until(
        page,
        lambda: (
            version.inner_text() == "1"
            and not queued.count()
            and loaded.count() > 0
            and loaded.first.inner_text() == "1"
        ),
        "the imported database loaded by the scanner",
    )
    expect(page.locator("#db-last-update")).to_have_text("succeeded")
    expect(page.get_by_text("running")).to_be_visible()  # the server's scanner replica
    shot(page, "scanning-admin")

    api_create_repo(ui_server, repo)
    image = build_debian_image(tmp_path / "debian", "1.0")
    push(image.image.ref("1.0"), ui_server.host, f"admin/{repo}:1.0", ui_server.admin_auth)
    page.goto(f"{ui_server.url}/repositories/admin/{repo}/tags")
    status = page.locator("tbody tr").first.locator(".badge")
    reload_until(page, lambda: status.inner_text() == "Completed", "a completed scan", 120)
    expected = osv.counts(osv.EXPECTED_DEBIAN)
    for severity, count in expected.items():
        expect(page.locator(f"tbody tr .sev.{severity}")).to_have_text(f"{count} {severity}")
    shot(page, "scanning-tags")

    page.get_by_role("link", name="1.0", exact=True).click()
    vulns = page.locator("table.vulns tbody tr")
    expect(vulns).to_have_count(len(osv.EXPECTED_DEBIAN))
    critical = next(e for e in osv.EXPECTED_DEBIAN if e.severity == "critical")
    link = page.get_by_role("link", name=critical.vuln_id)
    expect(link).to_have_attribute("href", f"https://osv.dev/vulnerability/{critical.vuln_id}")
    expect(page.get_by_role("button", name="Scan")).to_be_visible()
    page.get_by_text("Components (").click()
    expect(page.locator("details.components table")).to_be_visible()
    shot(page, "scanning-tag")
