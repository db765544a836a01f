"""A webhook subscription's page over plain HTTP: it shows the options beyond MSR (tags, least
scan severity, payload format, the client certificate's subject, never its key), keeps the URL
whole with break points, and its delete asks once naming the delivery log it removes."""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

import httpx
import pytest
import trustme

from tests.fakes.client_certs import client_pair
from tests.fakes.server import RunningServer
from tests.integration.accounts_helpers import create_repo, ok
from tests.integration.test_ui_pages import signed_in, url_cells

pytestmark = pytest.mark.e2e


def _subscribe(admin: httpx.Client, **body: Any) -> dict[str, Any]:
    return dict(ok(admin.post("/api/v0/webhooks", json=body), 201).json())


def _fact(page: str, css: str) -> str:
    """The text of the page's <dd class="css">, tags and break points dropped."""
    found = re.search(rf'<dd class="{css}">(.*?)</dd>', page, re.S)
    assert found, f"no {css} on the page"
    return html.unescape(re.sub(r"<[^>]+>", "", found.group(1)))


def test_subscription_page_shows_its_options(module_server: RunningServer) -> None:
    repo = f"sub-{uuid.uuid4().hex[:6]}"
    cert, key = client_pair(trustme.CA(), "page-client")
    url = f"https://receiver.example/hooks/{repo}/tag-push?team=ci-builds"
    with module_server.client(auth=module_server.admin_auth) as admin:
        create_repo(admin, "admin", repo)
        tagged = _subscribe(
            admin,
            type="TAG_PUSH",
            key=f"admin/{repo}",
            endpoint=url,
            tagFilter="v*, !*-rc*",
            format="cloudevents",
            tlsClientCert=cert,
            tlsClientKey=key,
        )
        scans = _subscribe(
            admin,
            type="SCAN_COMPLETED",
            key=f"admin/{repo}",
            endpoint="https://receiver.example/scans",
            minSeverity="major",
        )
        plain = _subscribe(
            admin, type="TAG_DELETE", key=f"admin/{repo}", endpoint="https://receiver.example/d"
        )
    with signed_in(module_server, "admin", module_server.admin_password) as (client, _):
        page = client.get(f"/webhooks/{tagged['id']}").text
        assert url_cells(page) == [url]
        assert _fact(page, "tag-filter") == "v*, !*-rc*"
        assert _fact(page, "payload-format").startswith("CloudEvents 1.0")
        assert _fact(page, "client-cert").startswith("CN=page-client")
        assert key not in page and "PRIVATE KEY" not in page
        assert 'class="min-severity"' not in page  # not a scan webhook

        page = client.get(f"/webhooks/{scans['id']}").text
        assert _fact(page, "min-severity") == "major or worse"
        assert _fact(page, "payload-format") == "MSR JSON"

        page = client.get(f"/webhooks/{plain['id']}").text
        assert _fact(page, "tag-filter") == "every tag"
        assert _fact(page, "client-cert") == "none"
        # Delete asks once and says the delivery log goes too.
        confirm = re.search(r'action="/webhooks/[^"]+/delete"[^>]*data-confirm="([^"]+)"', page)
        assert confirm and "delivery log is deleted too" in confirm.group(1)
