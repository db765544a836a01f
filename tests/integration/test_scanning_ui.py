"""The scanning UI on the real server (plain HTTP with a signed-in session and CSRF): an OSV
bundle uploaded on the admin's Vulnerability database page, the fixture Debian image pushed with
skopeo and scanned on push, then the Tags tab's status and counts, the tag page's vulnerabilities
and components, the Scan button (writers only; refused to a reader), the admin page refused to a
non-admin."""

from __future__ import annotations

import html
import re
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes import osv
from tests.fakes.scan_images import build_debian_image
from tests.fakes.server import RunningServer
from tests.fakes.skopeo import push
from tests.integration.test_ui_pages import signed_in

pytestmark = pytest.mark.e2e

REPO = "admin/scanui"
TAGS = f"/repositories/{REPO}/tags"
READER, READER_PASSWORD = "scan-reader", "reader-password-1"


def reload_until(client: httpx.Client, url: str, check: Callable[[str], bool], what: str) -> str:
    """Server-rendered pages do not update themselves: fetch until the page shows `what`."""
    deadline = time.monotonic() + 120
    while True:
        page = client.get(url)
        assert page.status_code == 200, page.text
        if check(page.text):
            return page.text
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} never showed {what}:\n{page.text}")
        time.sleep(0.25)


def row_of(page: str, tag: str) -> str:
    """The Tags tab's table row of `tag`."""
    for row in re.findall(r"<tr>(.*?)</tr>", page, re.S):
        if f'/tags/{tag}">{tag}</a>' in row:
            return str(row)
    raise AssertionError(f"no row for {tag}")


def upload_page(client: httpx.Client, token: str, path: Path) -> httpx.Response:
    with path.open("rb") as f:
        return client.post(
            "/admin/scanning",
            data={"csrf_token": token},
            files={"file": (path.name, f, "application/zip")},
        )


@pytest.fixture(scope="module")
def scanned(
    module_server: RunningServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A database uploaded on the admin page and the fixture image pushed to a public
    repository that scans on push; a reader account."""
    srv = module_server
    folder = tmp_path_factory.mktemp("scan-ui")
    with srv.client(auth=srv.admin_auth) as api:
        made = api.post(
            "/api/v0/repositories/admin", json={"name": "scanui", "visibility": "public"}
        )
        assert made.status_code == 201, made.text
        user = api.post("/enzi/v0/accounts", json={"name": READER, "password": READER_PASSWORD})
        assert user.status_code == 201, user.text
    with signed_in(srv, "admin", srv.admin_password) as (client, token):
        answer = upload_page(client, token, osv.write_zip(folder / "all.zip"))
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == "/admin/scanning?msg=db-queued"
        reload_until(
            client,
            "/admin/scanning",
            lambda t: '<dd id="db-version">1</dd>' in t and 'id="db-queued"' not in t,
            "version 1 imported",
        )
    image = build_debian_image(folder / "debian", "1.0")
    push(image.image.ref("1.0"), srv.host, f"{REPO}:1.0", srv.admin_auth)
    yield srv


def test_admin_page_shows_the_imported_version_and_the_replicas(
    scanned: RunningServer, tmp_path: Path
) -> None:
    with signed_in(scanned, "admin", scanned.admin_password) as (client, token):
        page = client.get("/admin/scanning")
        assert page.status_code == 200
        assert '<dd id="db-version">1</dd>' in page.text
        records = re.search(r"<dt>Records</dt><dd>(\d+)</dd>", page.text)
        assert records is not None and 0 < int(records.group(1)) <= len(osv.RECORDS)
        assert "succeeded" in page.text and "Scanner replicas" in page.text
        assert "running" in page.text  # the server's scanner reported its loaded version
        assert 'href="/admin/scanning" aria-current="page"' in page.text  # the navigation link
        # Not an archive: refused on the page, nothing queued.
        junk = Path(__file__)
        refused = upload_page(client, token, junk)
        assert refused.status_code == 400
        assert "not a zip or tar(.gz) archive" in refused.text
        # No token: the form is refused.
        assert client.post("/admin/scanning", files={"file": ("a.zip", b"PK")}).status_code == 403
        # A broken archive: the import fails, the page says so, version 1 stays.
        broken = tmp_path / "broken-osv.zip"
        with zipfile.ZipFile(broken, "w") as z:
            z.writestr("x.json", "{ not json")
        assert upload_page(client, token, broken).status_code == 303
        failed = reload_until(
            client,
            "/admin/scanning",
            lambda t: 'id="db-queued"' not in t and "badge failed" in t,
            "the failed import",
        )
        assert '<dd id="db-version">1</dd>' in failed


def test_tags_tab_shows_status_and_counts(scanned: RunningServer) -> None:
    expected = osv.counts(osv.EXPECTED_DEBIAN)
    with signed_in(scanned, "admin", scanned.admin_password) as (client, _token):
        page = reload_until(client, TAGS, lambda t: "Completed" in t, "a completed scan")
        row = row_of(page, "1.0")
        assert '<span class="badge scan-completed">Completed</span>' in row
        shown = re.findall(r'<span class="sev (\w+)" title="\w+">(\d+)<', row)
        assert {k: int(v) for k, v in shown} == expected
        # The same counts as the tags API's vuln_summary.
        api = client.get(f"/api/v0/repositories/{REPO}/tags").json()
        assert {k: api[0]["vuln_summary"][k] for k in expected} == expected


def test_tag_page_lists_vulnerabilities_and_components(scanned: RunningServer) -> None:
    with signed_in(scanned, "admin", scanned.admin_password) as (client, token):
        reload_until(client, TAGS, lambda t: "Completed" in t, "a completed scan")
        page = html.unescape(client.get(f"{TAGS}/1.0").text)
        ids = set(
            re.findall(r'<a href="https://osv\.dev/vulnerability/[^"]+"[^>]*>([^<]+)</a>', page)
        )
        assert ids == {e.vuln_id for e in osv.EXPECTED_DEBIAN}
        for e in osv.EXPECTED_DEBIAN:
            assert f"<code>{e.version}</code>" in page
            if e.fixed_version:
                assert f"<code>{e.fixed_version}</code>" in page
        assert "Components (" in page and "<td>glibc" in page
        assert "Debian" in page and "PyPI" in page and "npm" in page
        assert '/tags/1.0/scan"' in page  # a writer gets the Scan button
        queued = client.post(f"{TAGS}/1.0/scan", data={"csrf_token": token})
        assert queued.status_code == 303
        assert queued.headers["location"] == f"{TAGS}/1.0?msg=scan-queued"
        again = client.get(queued.headers["location"])
        assert "A scan was queued" in again.text
        # The rescan completes with the same findings.
        reload_until(client, TAGS, lambda t: "Completed" in t, "the rescan completed")
        assert client.post(f"{TAGS}/nope/scan", data={"csrf_token": token}).status_code == 404


def test_reader_sees_no_scan_button_and_is_refused(scanned: RunningServer) -> None:
    with signed_in(scanned, READER, READER_PASSWORD) as (client, token):
        tags = client.get(TAGS)
        assert tags.status_code == 200 and "Vulnerabilities" in tags.text
        page = client.get(f"{TAGS}/1.0")
        assert page.status_code == 200
        assert "Vulnerability scan" in page.text
        assert '/scan"' not in page.text and ">Scan</button>" not in page.text
        refused = client.post(f"{TAGS}/1.0/scan", data={"csrf_token": token})
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("text/html")
        assert 'href="/admin/scanning"' not in page.text  # no admin navigation link
        assert client.get("/admin/scanning").status_code == 403
        denied = client.post(
            "/admin/scanning", data={"csrf_token": token}, files={"file": ("a.zip", b"PK\x03\x04")}
        )
        assert denied.status_code == 403
