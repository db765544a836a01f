"""The repository pages in Chromium: the Tags tab (sorted, filtered, paged, pull commands by
tag and by digest, an index's platforms), the tag page (layers, config with environment
variable names only, history, annotations, a referrer pushed as an oras-style artifact
manifest, the tag's history), the Markdown description with its raw HTML inert, the Activity
pages, the repository's deletion asked once, and dark mode. Every page's requests stay on
the server's host; screenshots go to test-output/screenshots."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import BrowserContext, Dialog, Page, expect

from tests.browser.conftest import login, shot
from tests.browser.test_ui import _name, api_create_repo
from tests.fakes.server import RunningServer
from tests.integration.accounts_helpers import (
    PASSWORD,
    add_member,
    create_org,
    create_repo,
    create_team,
    create_user,
    grant_repo,
)
from tests.integration.registry_helpers import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    digest,
    put_manifest,
    upload,
)
from tests.integration.test_ui_pages import signed_in

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

SBOM_TYPE = "application/vnd.example.sbom.v1+json"
EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"


def _image(client: httpx.Client, repo: str, tag: str, layer: bytes, arch: str = "amd64") -> str:
    """Push an image whose config has an entrypoint, environment, labels and history."""
    config = {
        "created": "2026-11-30T10:00:00Z",
        "architecture": arch,
        "os": "linux",
        "config": {
            "Entrypoint": ["/usr/bin/app", "--serve"],
            "Env": ["PATH=/usr/bin", "API_TOKEN=hunter2-secret-value"],
            "Labels": {"org.opencontainers.image.source": "https://example.invalid/app"},
        },
        "rootfs": {"type": "layers", "diff_ids": [digest(layer)]},
        "history": [
            {"created": "2026-11-30T09:00:00Z", "created_by": "ADD rootfs.tar /"},
            {"created": "2026-11-30T10:00:00Z", "created_by": "ENV API_TOKEN", "empty_layer": True},
        ],
    }
    body = json.dumps(config).encode()
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": OCI_CONFIG,
            "digest": upload(client, repo, body),
            "size": len(body),
        },
        "layers": [
            {"mediaType": OCI_LAYER, "digest": upload(client, repo, layer), "size": len(layer)}
        ],
        "annotations": {"org.opencontainers.image.title": f"app {tag}"},
    }
    manifest = json.dumps(doc).encode()
    answer = put_manifest(client, repo, tag, manifest)
    assert answer.status_code == 201, answer.text
    return digest(manifest)


def _referrer(client: httpx.Client, repo: str, subject: str) -> str:
    """An SBOM attached to `subject` the way `oras attach` does: an image manifest with an
    artifactType, the empty config and `subject`."""
    size = len(client.get(f"/v2/{repo}/manifests/{subject}").content)
    blob = b'{"sbom": true}'
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SBOM_TYPE,
        "config": {"mediaType": EMPTY_CONFIG, "digest": upload(client, repo, b"{}"), "size": 2},
        "layers": [{"mediaType": SBOM_TYPE, "digest": upload(client, repo, blob), "size": 14}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": size},
        "annotations": {"org.opencontainers.image.created": "2026-11-30T11:00:00Z"},
    }
    body = json.dumps(doc).encode()
    answer = put_manifest(client, repo, digest(body), body)
    assert answer.status_code == 201, answer.text
    return digest(body)


def _index(client: httpx.Client, repo: str, tag: str, children: list[tuple[str, str]]) -> str:
    manifests = []
    for child, arch in children:
        size = len(client.get(f"/v2/{repo}/manifests/{child}").content)
        manifests.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": child,
                "size": size,
                "platform": {"os": "linux", "architecture": arch},
            }
        )
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests})
    answer = put_manifest(client, repo, tag, body.encode(), OCI_INDEX)
    assert answer.status_code == 201, answer.text
    return digest(body.encode())


def _answer(asked: list[str], accept: bool) -> Callable[[Dialog], None]:
    """A dialog handler that records each question and answers it."""

    def handle(dialog: Dialog) -> None:
        asked.append(dialog.message)
        if accept:
            dialog.accept()
        else:
            dialog.dismiss()

    return handle


@pytest.fixture
def same_host(ui_server: RunningServer) -> Iterator[Callable[[Page], Page]]:
    """Watch pages' requests: at the end, every one went to the server itself."""
    seen: list[str] = []

    def watch(page: Page) -> Page:
        page.on("request", lambda request: seen.append(request.url))
        return page

    yield watch
    assert seen, "no request was watched"
    others = [u for u in seen if urlsplit(u).netloc != ui_server.host]
    assert not others, f"requests to another host: {others}"


def test_tag_page_shows_layers_history_and_referrers(
    page: Page, ui_server: RunningServer, same_host: Callable[[Page], Page]
) -> None:
    repo = _name("tagpage")
    full = f"admin/{repo}"
    api_create_repo(ui_server, repo)
    with ui_server.client(auth=ui_server.admin_auth) as client:
        first = _image(client, full, "1.0", b"layer one")
        moved = _image(client, full, "1.0", b"layer one, rebuilt")  # the tag moves
        sbom = _referrer(client, full, moved)
    same_host(page)
    login(page, ui_server, "admin", ui_server.admin_password)
    page.goto(f"{ui_server.url}/repositories/{full}/tags/1.0")

    layers = page.locator("table.layers tbody tr")
    expect(layers).to_have_count(1)
    expect(layers.first).to_contain_text(digest(b"layer one, rebuilt"))
    expect(layers.first).to_contain_text(OCI_LAYER)
    expect(layers.first).to_contain_text("18 B")  # the compressed size
    history = page.locator("table.history tbody tr")
    expect(history).to_have_count(2)
    expect(history.nth(0)).to_contain_text("ADD rootfs.tar /")
    config = page.locator("dl.config")
    expect(config).to_contain_text('["/usr/bin/app", "--serve"]')
    expect(config).to_contain_text("2026-11-30T10:00:00Z")
    expect(config.get_by_label("Environment variable names")).to_contain_text("API_TOKEN")
    expect(page.locator("main")).not_to_contain_text("hunter2-secret-value")
    expect(page.locator("table.labels")).to_contain_text("https://example.invalid/app")
    expect(page.locator("table.annotations")).to_contain_text("app 1.0")
    # The referrer, under its artifact type.
    group = page.locator(f'table.referrers[data-artifact-type="{SBOM_TYPE}"]')
    expect(group.locator("tbody tr")).to_have_count(1)
    expect(group).to_contain_text(sbom[:19])
    expect(group).to_contain_text("2026-11-30T11:00:00Z")
    # The tag's history: where it points now, and where it pointed before.
    moves = page.locator("table.taghistory tbody tr")
    expect(moves).to_have_count(2)
    expect(moves.nth(0)).to_contain_text(moved[:19])
    expect(moves.nth(0)).to_contain_text("current")
    expect(moves.nth(1)).to_contain_text(first[:19])
    expect(page.locator("#pull-digest")).to_have_text(
        f"docker pull {ui_server.host}/{full}@{moved}"
    )
    shot(page, "tag-page")


def test_tags_tab_sorts_filters_pages_and_copies(
    context: BrowserContext, ui_server: RunningServer, same_host: Callable[[Page], Page]
) -> None:
    repo = _name("tagtab")
    full = f"admin/{repo}"
    api_create_repo(ui_server, repo)
    with ui_server.client(auth=ui_server.admin_auth) as client:
        amd = _image(client, full, "b-amd64", b"amd", "amd64")
        arm = _image(client, full, "a-arm64", b"arm", "arm64")
        _index(client, full, "c-multi", [(amd, "amd64"), (arm, "arm64")])
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=ui_server.url)
    page = same_host(context.new_page())
    login(page, ui_server, "admin", ui_server.admin_password)
    page.goto(f"{ui_server.url}/repositories/{full}/tags")
    names = page.locator("tbody td[data-tag]")
    expect(names).to_have_count(3)
    assert names.evaluate_all("rows => rows.map(r => r.dataset.tag)") == [
        "c-multi",
        "a-arm64",
        "b-amd64",
    ]  # newest first
    page.get_by_label("Sort").select_option("name")
    page.get_by_role("button", name="Filter").click()
    expect(names.first).to_have_attribute("data-tag", "a-arm64")
    assert names.evaluate_all("rows => rows.map(r => r.dataset.tag)") == [
        "a-arm64",
        "b-amd64",
        "c-multi",
    ]
    # The index lists its platforms.
    multi = page.locator("tbody tr").filter(has=page.locator('td[data-tag="c-multi"]'))
    expect(multi.get_by_label("Platforms")).to_contain_text("linux / amd64")
    expect(multi.get_by_label("Platforms")).to_contain_text("linux / arm64")
    # Pull by digest, copied.
    row = page.locator("tbody tr").filter(has=page.locator('td[data-tag="b-amd64"]'))
    row.get_by_text("Pull", exact=True).click()
    row.get_by_role("button", name="Copy the pull command by digest").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == f"docker pull {ui_server.host}/{full}@{amd}"
    shot(page, "tags-tab")
    # Filtered by name.
    page.get_by_label("Filter tags by name").fill("amd")
    page.get_by_role("button", name="Filter").click()
    expect(names).to_have_count(1)
    expect(names.first).to_have_attribute("data-tag", "b-amd64")
    page.get_by_label("Filter tags by name").fill("nothing-like-it")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator(".empty")).to_contain_text("No tag matches")
    # The index's tag page: its platforms, and each platform's image.
    page.goto(f"{ui_server.url}/repositories/{full}/tags/c-multi")
    platforms = page.locator("table.platforms tbody tr")
    expect(platforms).to_have_count(2)
    expect(page.get_by_role("heading", name="Image for linux / amd64")).to_be_visible()
    expect(page.locator("table.layers")).to_contain_text(digest(b"amd"))
    page.get_by_role("link", name="linux / arm64").click()
    expect(page.get_by_role("heading", name="Image for linux / arm64")).to_be_visible()
    expect(page.locator("table.layers")).to_contain_text(digest(b"arm"))
    shot(page, "tag-page-index")


def test_tags_tab_pages_in_name_order(
    page: Page, ui_server: RunningServer, same_host: Callable[[Page], Page]
) -> None:
    repo = _name("tagpages")
    full = f"admin/{repo}"
    api_create_repo(ui_server, repo)
    with ui_server.client(auth=ui_server.admin_auth) as client:
        image = _image(client, full, "t00", b"paged")
        body = client.get(f"/v2/{full}/manifests/{image}").content
        for n in range(1, 55):
            assert put_manifest(client, full, f"t{n:02d}", body).status_code == 201
    same_host(page)
    login(page, ui_server, "admin", ui_server.admin_password)
    page.goto(f"{ui_server.url}/repositories/{full}/tags?sort=name")
    rows = page.locator("tbody td[data-tag]")
    expect(rows).to_have_count(50)
    expect(rows.first).to_have_attribute("data-tag", "t00")
    page.get_by_role("link", name="Next →").click()
    expect(rows).to_have_count(5)
    expect(rows.first).to_have_attribute("data-tag", "t50")
    expect(page.get_by_role("link", name="Next →")).to_have_count(0)
    page.get_by_role("link", name="← Previous").click()
    expect(rows.first).to_have_attribute("data-tag", "t00")


def test_markdown_description_is_rendered_and_inert(
    page: Page, ui_server: RunningServer, same_host: Callable[[Page], Page]
) -> None:
    repo = _name("markdown")
    api_create_repo(ui_server, repo)
    text = (
        "# Usage\n\nRun **it** with `app --serve`. See [the docs](https://example.invalid/d).\n\n"
        "<script>document.title = 'owned'; alert(1)</script>\n\n"
        '<img src="x" onerror="alert(2)">\n\n[bad](javascript:alert(3))\n'
    )
    with ui_server.client(auth=ui_server.admin_auth) as client:
        answer = client.patch(f"/api/v0/repositories/admin/{repo}", json={"longDescription": text})
        assert answer.status_code == 200, answer.text
    dialogs: list[str] = []
    page.on("dialog", _answer(dialogs, accept=False))
    same_host(page)
    login(page, ui_server, "admin", ui_server.admin_password)
    page.goto(f"{ui_server.url}/repositories/admin/{repo}")
    described = page.locator(".markdown")
    expect(described.get_by_role("heading", name="Usage")).to_be_visible()
    expect(described.locator("strong")).to_have_text("it")
    link = described.get_by_role("link", name="the docs")
    expect(link).to_have_attribute("href", "https://example.invalid/d")
    expect(link).to_have_attribute("rel", re.compile("noopener"))
    # The raw HTML is text, not elements; the javascript: link is no link.
    assert described.locator("script, img, [onerror]").count() == 0
    expect(described).to_contain_text("<script>")
    assert described.get_by_role("link", name="bad").count() == 0
    assert page.title() != "owned"
    assert dialogs == []
    shot(page, "repository-info-markdown")


def test_activity_of_a_repository_and_its_namespace(
    page: Page, ui_server: RunningServer, same_host: Callable[[Page], Page]
) -> None:
    repo = _name("activity")
    full = f"admin/{repo}"
    api_create_repo(ui_server, repo)
    same_host(page)
    login(page, ui_server, "admin", ui_server.admin_password)
    page.goto(f"{ui_server.url}/repositories/{full}/activity")
    rows = page.locator("table.activity tbody tr")
    # Created through the API: the one event so far.
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("repository created")
    with ui_server.client(auth=ui_server.admin_auth) as client:
        _image(client, full, "v1", b"activity layer")
        assert client.delete(f"/api/v0/repositories/{full}/tags/v1").status_code == 204
    page.reload()
    expect(page.locator('tr[data-event="TAG_PUSH"]')).to_contain_text("v1")
    expect(page.locator('tr[data-event="TAG_DELETE"]')).to_contain_text("v1")
    page.get_by_label("Show").select_option("push")
    page.get_by_role("button", name="Show").click()
    expect(page.locator('tr[data-event="TAG_DELETE"]')).to_have_count(0)
    expect(page.locator('tr[data-event="TAG_PUSH"]')).to_have_count(1)
    shot(page, "repository-activity")
    page.get_by_label("Show").select_option("promotion")
    page.get_by_role("button", name="Show").click()
    expect(page.locator(".empty")).to_contain_text("No promotions")
    # The namespace's activity, linked from its page, names the repository.
    page.goto(f"{ui_server.url}/orgs/admin")
    page.get_by_role("link", name="Recent activity in admin").click()
    expect(page.locator(f'tr[data-event="TAG_PUSH"]:has-text("{full}")')).to_have_count(1)
    shot(page, "namespace-activity")


def test_deleting_a_repository_asks_once_and_says_what_goes(
    page: Page, ui_server: RunningServer, same_host: Callable[[Page], Page]
) -> None:
    repo = _name("doomed")
    full = f"admin/{repo}"
    api_create_repo(ui_server, repo)
    with ui_server.client(auth=ui_server.admin_auth) as client:
        _image(client, full, "v1", b"doomed")
        _image(client, full, "v2", b"doomed too")
    dialogs: list[str] = []
    page.on("dialog", _answer(dialogs, accept=True))
    same_host(page)
    login(page, ui_server, "admin", ui_server.admin_password)
    page.goto(f"{ui_server.url}/repositories/{full}/settings")
    form = page.locator("#delete-repository")
    expect(form.locator("ul.removes li").nth(0)).to_contain_text("its tags, with every manifest")
    expect(form.locator("ul.removes li").nth(0).locator("strong")).to_have_text("2")
    expect(form.locator("ul.removes li").nth(1)).to_contain_text("webhooks subscribed to it")
    expect(form.locator("ul.removes li").nth(2)).to_contain_text("policies")
    shot(page, "repository-settings")
    form.get_by_label(re.compile("to confirm")).fill(full)
    form.get_by_role("button", name="Delete repository").click()
    expect(page).to_have_url(f"{ui_server.url}/repositories")
    assert dialogs == []  # typing the name was the one question
    assert page.goto(f"{ui_server.url}/repositories/{full}").status == 404  # type: ignore[union-attr]


def test_dark_mode(
    browser_context_factory: Callable[..., BrowserContext],
    ui_server: RunningServer,
    same_host: Callable[[Page], Page],
) -> None:
    repo = _name("dark")
    full = f"admin/{repo}"
    api_create_repo(ui_server, repo)
    with ui_server.client(auth=ui_server.admin_auth) as client:
        _image(client, full, "v1", b"dark layer")
        client.patch(f"/api/v0/repositories/{full}", json={"longDescription": "# Dark\n\ntext"})
        # The Promotions and Mirrors tabs with a policy each (rows, badges, rules in words).
        target = _name("dark-prod")
        api_create_repo(ui_server, target)
        rules = [{"field": "tag", "operator": "sw", "values": ["v"]}]
        policy = {
            "rules": rules,
            "targetRepository": f"admin/{target}",
            "tagTemplate": "%n",
            "enabled": True,
        }
        made = client.post(f"/api/v0/repositories/{full}/promotionPolicies", json=policy)
        assert made.status_code == 201, made.text
        mirror = {
            "remoteHost": "https://mirror.invalid",
            "remoteRepository": "team/app",
            "rules": rules,
            "tagTemplate": "%n",
            "enabled": True,
        }
        made = client.post(
            f"/api/v0/repositories/{full}/pushMirroringPolicies",
            params={"initialEvaluation": "false"},
            json=mirror,
        )
        assert made.status_code == 201, made.text
    context = browser_context_factory()
    page = same_host(context.new_page())
    page.emulate_media(color_scheme="dark")
    login(page, ui_server, "admin", ui_server.admin_password)
    for path, name in [
        ("/repositories", "repositories"),
        (f"/repositories/{full}", "repository-info"),
        (f"/repositories/{full}/tags", "tags"),
        (f"/repositories/{full}/tags/v1", "tag"),
        (f"/repositories/{full}/activity", "activity"),
        (f"/repositories/{full}/settings", "settings"),
        (f"/repositories/{full}/promotions", "promotions"),
        (f"/repositories/{full}/mirrors", "mirrors"),
        ("/orgs/admin/activity", "namespace-activity"),
    ]:
        page.goto(f"{ui_server.url}{path}")
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        channels = [int(c) for c in re.findall(r"\d+", background)[:3]]
        assert max(channels) < 60, f"{path}: the background is {background} in dark mode"
        # Panels and tables are dark too: no light-only colour left in a stylesheet.
        for panel in page.locator(".card, .tablewrap").all():
            colour = panel.evaluate("el => getComputedStyle(el).backgroundColor")
            panel_channels = [int(c) for c in re.findall(r"\d+", colour)[:3]]
            assert max(panel_channels) < 60, f"{path}: a panel is {colour} in dark mode"
        shot(page, f"dark-{name}")
    # The same page in the light scheme is light.
    page.emulate_media(color_scheme="light")
    page.goto(f"{ui_server.url}/repositories")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert min(int(c) for c in re.findall(r"\d+", background)[:3]) > 200


def test_namespace_activity_shows_only_what_the_viewer_may_read(ui_server: RunningServer) -> None:
    org, member, stranger = _name("actorg"), _name("member"), _name("stranger")
    with ui_server.client(auth=ui_server.admin_auth) as admin:
        create_org(admin, org)
        create_user(admin, member)
        create_user(admin, stranger)
        add_member(admin, org, member)
        create_team(admin, org, "readers", [member])
        create_repo(admin, org, "seen")
        create_repo(admin, org, "hidden")
        grant_repo(admin, f"{org}/seen", "readers", "read-only")
    with signed_in(ui_server, "admin", ui_server.admin_password) as (client, _token):
        everything = client.get(f"/orgs/{org}/activity")
        assert everything.status_code == 200
        assert f"{org}/seen" in everything.text and f"{org}/hidden" in everything.text
    with signed_in(ui_server, member, PASSWORD) as (client, _token):
        some = client.get(f"/orgs/{org}/activity")
        assert some.status_code == 200
        assert f"{org}/seen" in some.text and f"{org}/hidden" not in some.text
        assert client.get(f"/repositories/{org}/hidden/activity").status_code == 404
        assert client.get(f"/repositories/{org}/seen/activity").status_code == 200
    with signed_in(ui_server, stranger, PASSWORD) as (client, _token):
        assert client.get(f"/orgs/{org}/activity").status_code == 404
        assert client.get(f"/orgs/no-such-{org}/activity").status_code == 404


def test_repository_pages_fit_a_phone(
    browser_context_factory: Callable[..., BrowserContext],
    ui_server: RunningServer,
    same_host: Callable[[Page], Page],
) -> None:
    repo = _name("phone")
    full = f"admin/{repo}"
    api_create_repo(ui_server, repo)
    with ui_server.client(auth=ui_server.admin_auth) as client:
        image = _image(client, full, "v1", b"phone layer")
        _referrer(client, full, image)
        client.patch(
            f"/api/v0/repositories/{full}",
            json={"longDescription": "# Phone\n\n" + "a-long-unbroken-word-" * 8},
        )
    page = same_host(browser_context_factory(width=390).new_page())
    login(page, ui_server, "admin", ui_server.admin_password)
    for path, name in [
        (f"/repositories/{full}", "repository-info"),
        (f"/repositories/{full}/tags/v1", "tag"),
        (f"/repositories/{full}/activity", "activity"),
        (f"/repositories/{full}/settings", "settings"),
        ("/orgs/admin/activity", "namespace-activity"),
    ]:
        page.goto(f"{ui_server.url}{path}")
        expect(page.locator("main")).to_be_visible()
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{path} is wider than 390px by {overflow}px"
        shot(page, f"{name}-390")
