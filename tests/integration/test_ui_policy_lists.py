"""The Promotions and Mirrors tabs' lists over plain HTTP: the policies promoting into a
repository (from any number of repositories) come 50 a page in creation order with their own
Previous and Next; an empty list says what a policy would do."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.fakes.server import RunningServer
from tests.integration.accounts_helpers import create_repo, ok
from tests.integration.test_ui_pages import signed_in

pytestmark = pytest.mark.e2e

RULES = [{"field": "tag", "operator": "sw", "values": ["v"]}]


def _sources(html: str) -> list[str]:
    found = re.search(r'<p class="help" id="promoted-into">(.*?)</p>', html, re.S)
    assert found, "no incoming promotions listed"
    return re.findall(r'href="/repositories/admin/([^"/]+)/promotions"', found.group(1))


def test_promotions_into_a_repository_come_in_pages(module_server: RunningServer) -> None:
    suffix = uuid.uuid4().hex[:6]
    target = f"into-{suffix}"
    sources = [f"from-{suffix}-{i:02d}" for i in range(51)]
    with module_server.client(auth=module_server.admin_auth) as admin:
        create_repo(admin, "admin", target)
        for source in sources:
            create_repo(admin, "admin", source)
            policy = {
                "rules": RULES,
                "targetRepository": f"admin/{target}",
                "tagTemplate": "%n",
                "enabled": True,
            }
            ok(admin.post(f"/api/v0/repositories/admin/{source}/promotionPolicies", json=policy))
    base = f"/repositories/admin/{target}/promotions"
    with signed_in(module_server, "admin", module_server.admin_password) as (client, _):
        first = client.get(base).text
        assert "No promotion policies yet" in first  # its own list is empty
        assert _sources(first) == sources[:50]  # creation order
        nxt = re.search(r'href="([^"]+\?in=[^"#]+)#promoted-into" rel="next"', first)
        assert nxt is not None
        second = client.get(nxt.group(1)).text
        assert _sources(second) == sources[50:]
        assert 'rel="prev"' in second and 'rel="next"' not in second
        # A page that starts at a policy deleted since shows the first page.
        assert _sources(client.get(f"{base}?in=gone").text) == sources[:50]
        mirrors = client.get(f"/repositories/admin/{target}/mirrors").text
        assert "No push mirroring policies yet. Create one below" in mirrors
        assert "No poll mirroring policies yet. Create one below" in mirrors
