"""Webhooks API hardening, end to end against the real server: exact namespace listings, endpoint
validation, a pinned CA-signed leaf, bad input that used to be a 500, subscription caps,
webhooks that go with their repository or author, and redelivery bookkeeping."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from tests.fakes import webhook_seed as seed
from tests.fakes.databases import create_database, drop_database
from tests.fakes.receiver import Receiver, ca_pem
from tests.fakes.server import RunningServer, make_server

pytestmark = pytest.mark.e2e

PASSWORD = "password-123"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    folder: Path = tmp_path_factory.mktemp("wh-hardening")
    server = make_server(
        folder,
        create_database(folder),
        {
            # Loopback receivers are used: only 127.0.0.2 stays blocked.
            "DOCKYARD_WEBHOOK_BLOCKED_NETWORKS": "127.0.0.2/32",
            "DOCKYARD_WEBHOOK_TEST_RATE_PER_MINUTE": "1000",
            # A failed attempt waits a minute: long enough to catch a delivery "retrying".
            "DOCKYARD_WEBHOOK_RETRY_SCHEDULE": "60,60",
            "DOCKYARD_WEBHOOK_MAX_PER_KEY": "3",
            "DOCKYARD_WEBHOOK_MAX_PER_USER": "5",
        },
    )
    server.start()
    for name in ("alice", "carol", "ac_e", "capper", "leaver", "dora", "tls"):
        seed.user(server, name)
    seed.org(server, "acme", owners=["carol"])
    seed.org(server, "corp", owners=["carol"])
    seed.repo(server, "acme", "app")
    seed.repo(server, "ac_e", "mine")
    seed.repo(server, "alice", "web")
    seed.repo(server, "corp", "app")
    seed.repo(server, "leaver", "own")
    seed.repo(server, "tls", "app")
    for name in ("r1", "r2", "r3"):
        seed.repo(server, "capper", name)
    seed.team_repo_access(server, "corp", "ops", "app", "admin", ["leaver"])
    yield server
    server.kill()
    drop_database(server.database_url)


@pytest.fixture(scope="module")
def rx() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def api(srv: RunningServer, who: str = "admin") -> httpx.Client:
    return srv.client(auth=srv.admin_auth if who == "admin" else (who, PASSWORD))


def create(srv: RunningServer, who: str, **body: Any) -> httpx.Response:
    with api(srv, who) as c:
        return c.post("/api/v0/webhooks", json=body)


def subscribe(srv: RunningServer, who: str, **body: Any) -> dict[str, Any]:
    resp = create(srv, who, **body)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def code(resp: httpx.Response) -> str:
    return str(resp.json()["errors"][0]["code"])


def wait_until(predicate: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def deliveries(srv: RunningServer, wid: str, who: str = "admin") -> list[dict[str, Any]]:
    with api(srv, who) as c:
        resp = c.get(f"/api/v0/webhooks/{wid}/deliveries", params={"pageSize": 100})
    assert resp.status_code == 200, resp.text
    return list(resp.json())


# --- item 10: namespace listings match the namespace exactly --------------------------------


def test_namespace_listing_does_not_leak_a_lookalike_namespace(
    srv: RunningServer, rx: Receiver
) -> None:
    on_repo = subscribe(srv, "carol", type="TAG_PUSH", key="acme/app", endpoint=rx.url("/acme"))
    on_ns = subscribe(srv, "carol", type="REPO_EVENT", key="acme", endpoint=rx.url("/acme-ns"))
    own = subscribe(srv, "ac_e", type="TAG_PUSH", key="ac_e/mine", endpoint=rx.url("/ac_e"))
    # "_" is a LIKE wildcard: "ac_e/%" matched "acme/app".
    with api(srv, "ac_e") as c:
        for path in ("/api/v0/accounts/ac_e/webhooks", "/api/v0/repositories/ac_e/webhooks"):
            resp = c.get(path)
            assert resp.status_code == 200, resp.text
            assert [w["id"] for w in resp.json()] == [own["id"]], path
    with api(srv, "carol") as c:
        listed = {w["id"] for w in c.get("/api/v0/accounts/acme/webhooks").json()}
    assert listed == {on_repo["id"], on_ns["id"]}


# --- items 17 and 18: endpoints ----------------------------------------------------------------

BAD_ENDPOINTS = [
    "http://[::1/",
    "http://" + "a" * 300 + ".example.com/hook",
    "http://exa\tmple.com/hook",
    "http://example.com/ho\nok",
    "http://ex ample.com/hook",
    "http://example.com/a b",
    "http://\u2603.example/hook",
    "http://xn--n3h.example/hook",
    "http://" + ".".join(["a" * 63] * 4) + "/",
]


@pytest.mark.parametrize("endpoint", BAD_ENDPOINTS)
def test_bad_endpoints_are_refused_everywhere(srv: RunningServer, endpoint: str) -> None:
    with api(srv, "alice") as c:
        made = c.post(
            "/api/v0/webhooks", json={"type": "TAG_PUSH", "key": "alice/web", "endpoint": endpoint}
        )
        assert made.status_code == 400, made.text
        assert code(made) == "INVALID_WEBHOOK_ENDPOINT"
        tested = c.post("/api/v0/webhooks/test", json={"type": "TAG_PUSH", "endpoint": endpoint})
        assert tested.status_code == 400 and code(tested) == "INVALID_WEBHOOK_ENDPOINT"
    with api(srv) as c:
        listed = c.get("/api/v0/webhooks").json()
    assert endpoint not in {w["endpoint"] for w in listed}


def test_bad_endpoint_in_patch_is_refused(srv: RunningServer, rx: Receiver) -> None:
    sub = subscribe(srv, "alice", type="TAG_PULL", key="alice/web", endpoint=rx.url("/patch"))
    with api(srv, "alice") as c:
        for endpoint in ("http://[::1/", "http://" + "b" * 300 + "/", "http://a\u0000b/"):
            resp = c.patch(f"/api/v0/webhooks/{sub['id']}", json={"endpoint": endpoint})
            assert resp.status_code == 400 and code(resp) == "INVALID_WEBHOOK_ENDPOINT"
        assert c.get(f"/api/v0/webhooks/{sub['id']}").json()["endpoint"] == rx.url("/patch")
        assert c.delete(f"/api/v0/webhooks/{sub['id']}").status_code == 204


def test_idn_endpoint_is_accepted(srv: RunningServer) -> None:
    sub = subscribe(
        srv, "alice", type="TAG_DELETE", key="alice/web", endpoint="http://b\u00fccher.invalid/h"
    )
    with api(srv, "alice") as c:
        assert c.delete(f"/api/v0/webhooks/{sub['id']}").status_code == 204


def test_pinned_ca_signed_leaf_is_trusted(srv: RunningServer) -> None:
    root = trustme.CA()
    with Receiver(tls=root) as tls_rx:
        assert tls_rx.leaf is not None
        leaf_pem = tls_rx.leaf.cert_chain_pems[0].bytes().decode()
        with api(srv, "tls") as c:
            tested = c.post(
                "/api/v0/webhooks/test",
                json={"type": "TAG_PUSH", "endpoint": tls_rx.url("/test"), "tlsCert": leaf_pem},
            )
            assert tested.status_code == 200, tested.text
            # A leaf of another CA is still refused.
            other = trustme.CA().issue_cert("127.0.0.1").cert_chain_pems[0].bytes().decode()
            refused = c.post(
                "/api/v0/webhooks/test",
                json={"type": "TAG_PUSH", "endpoint": tls_rx.url("/test"), "tlsCert": other},
            )
            assert refused.status_code == 400
            assert refused.json()["errors"][0]["detail"]["kind"] == "tls"
        sub = subscribe(
            srv,
            "tls",
            type="TAG_PUSH",
            key="tls/app",
            endpoint=tls_rx.url("/leaf"),
            tlsCert=leaf_pem,
        )
        seed.tag_push_events(srv, "tls", "app", 1)
        [got] = tls_rx.wait_for(1, "/leaf")
        assert got.json["type"] == "TAG_PUSH"
        [d] = wait_until(
            lambda: [x for x in deliveries(srv, sub["id"]) if x["status"] == "delivered"]
        )
        assert d["attemptCount"] == 1
        # The CA still works as the pin, as before.
        tested = subscribe(
            srv,
            "tls",
            type="TAG_PULL",
            key="tls/app",
            endpoint=tls_rx.url("/ca"),
            tlsCert=ca_pem(root),
        )
        assert tested["tlsCert"] == ca_pem(root)


# --- item 18: bad input on /api/v0/webhooks* that was a 500 ---------------------------------


def test_deeply_nested_json_is_400(srv: RunningServer, rx: Receiver) -> None:
    sub = subscribe(srv, "alice", type="MANIFEST_PUSH", key="alice/web", endpoint=rx.url("/deep"))
    deep = "[" * 100_000 + "]" * 100_000
    headers = {"content-type": "application/json"}
    with api(srv, "alice") as c:
        for method, path in (
            ("POST", "/api/v0/webhooks"),
            ("POST", "/api/v0/webhooks/update"),
            ("POST", "/api/v0/webhooks/test"),
            ("PATCH", f"/api/v0/webhooks/{sub['id']}"),
            ("POST", f"/api/v0/webhooks/{sub['id']}/redeliver"),
        ):
            resp = c.request(method, path, content=deep, headers=headers)
            assert resp.status_code == 400, (path, resp.status_code, resp.text[:200])
            assert code(resp) == "INVALID_JSON"
        assert c.delete(f"/api/v0/webhooks/{sub['id']}").status_code == 204


@pytest.mark.parametrize("start", [str(10**30), str(2**63), "-1"])
def test_huge_page_start_is_400(srv: RunningServer, rx: Receiver, start: str) -> None:
    sub = subscribe(srv, "dora", type="REPO_EVENT", key="dora", endpoint=rx.url("/page"))
    try:
        with api(srv, "dora") as c:
            resp = c.get(f"/api/v0/webhooks/{sub['id']}/deliveries", params={"pageStart": start})
            assert resp.status_code == 400, resp.text
            assert code(resp) == "INVALID_PARAMETERS"
            last = c.get(
                f"/api/v0/webhooks/{sub['id']}/deliveries", params={"pageStart": str(2**63 - 1)}
            )
            assert last.status_code == 200 and last.json() == []
    finally:
        with api(srv, "dora") as c:
            c.delete(f"/api/v0/webhooks/{sub['id']}")


# --- item 12: subscription caps --------------------------------------------------------------


def test_caps_per_key_and_per_user(srv: RunningServer, rx: Receiver) -> None:
    made = [
        subscribe(srv, "capper", type=t, key=k, endpoint=rx.url("/cap"))
        for t, k in (
            ("TAG_PUSH", "capper/r1"),
            ("TAG_PULL", "capper/r1"),
            ("TAG_PUSH", "capper/r2"),
            ("TAG_PULL", "capper/r2"),
            ("TAG_PUSH", "capper/r3"),
        )
    ]
    # Per user (5): a sixth anywhere is refused.
    over_user = create(srv, "capper", type="TAG_PULL", key="capper/r3", endpoint=rx.url("/cap"))
    assert over_user.status_code == 400, over_user.text
    assert code(over_user) == "TOO_MANY_WEBHOOKS"
    assert "DOCKYARD_WEBHOOK_MAX_PER_USER" in over_user.json()["errors"][0]["message"]
    # Per key (3): capper/r3 has one; an admin may add two and is refused the third.
    for t in ("TAG_PULL", "TAG_DELETE"):
        subscribe(srv, "admin", type=t, key="capper/r3", endpoint=rx.url("/cap"))
    over_key = create(srv, "admin", type="MANIFEST_PUSH", key="capper/r3", endpoint=rx.url("/cap"))
    assert over_key.status_code == 400, over_key.text
    assert code(over_key) == "TOO_MANY_WEBHOOKS"
    assert over_key.json()["errors"][0]["detail"]["limit"] == 3
    # Deleting one frees its place.
    with api(srv, "capper") as c:
        assert c.delete(f"/api/v0/webhooks/{made[-1]['id']}").status_code == 204
    subscribe(srv, "admin", type="MANIFEST_PUSH", key="capper/r3", endpoint=rx.url("/cap"))


# --- item 22: a repository's webhooks go with it -----------------------------------------------


def test_deleting_a_repository_deletes_its_webhooks(srv: RunningServer, rx: Receiver) -> None:
    with api(srv, "alice") as c:
        assert c.post("/api/v0/repositories/alice", json={"name": "gone"}).status_code == 201
    on_ns = subscribe(srv, "alice", type="REPO_DELETED", key="alice", endpoint=rx.url("/ns-del"))
    old = subscribe(srv, "alice", type="TAG_PUSH", key="alice/gone", endpoint=rx.url("/old-gone"))
    with api(srv, "alice") as c:
        assert c.delete("/api/v0/repositories/alice/gone").status_code == 204
        assert c.get(f"/api/v0/webhooks/{old['id']}").status_code == 404
        assert old["id"] not in {w["id"] for w in c.get("/api/v0/webhooks").json()}
        assert c.get(f"/api/v0/webhooks/{on_ns['id']}").status_code == 200
    # The namespace's REPO_EVENT subscriber still hears the delete.
    [heard] = rx.wait_for(1, "/ns-del")
    assert heard.json["contents"]["event"] == "REPO_DELETED"
    assert heard.json["contents"]["repository"] == "gone"
    # The name is reused: only a subscription made now hears its pushes.
    with api(srv, "alice") as c:
        assert c.post("/api/v0/repositories/alice", json={"name": "gone"}).status_code == 201
    fresh = subscribe(srv, "alice", type="TAG_PUSH", key="alice/gone", endpoint=rx.url("/new-gone"))
    seed.tag_push_events(srv, "alice", "gone", 1)
    rx.wait_for(1, "/new-gone")
    wait_until(lambda: [d for d in deliveries(srv, fresh["id"]) if d["status"] == "delivered"])
    assert rx.received("/old-gone") == []
    with api(srv, "alice") as c:
        for wid in (on_ns["id"], fresh["id"]):
            assert c.delete(f"/api/v0/webhooks/{wid}").status_code == 204


@contextmanager
def signed_in(
    server: RunningServer, user: str, password: str
) -> Iterator[tuple[httpx.Client, str]]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        token = CSRF.search(client.get("/login").text).group(1)  # type: ignore[union-attr]
        answer = client.post(
            "/login", data={"username": user, "password": password, "csrf_token": token}
        )
        assert answer.status_code == 303, answer.text
        page = client.get("/repositories")
        yield client, CSRF.search(page.text).group(1)  # type: ignore[union-attr]


def test_ui_repository_delete_says_and_does_it(srv: RunningServer, rx: Receiver) -> None:
    with api(srv, "alice") as c:
        assert c.post("/api/v0/repositories/alice", json={"name": "uigone"}).status_code == 201
    old = subscribe(srv, "alice", type="TAG_PULL", key="alice/uigone", endpoint=rx.url("/ui-old"))
    with signed_in(srv, "alice", PASSWORD) as (client, token):
        settings = client.get("/repositories/alice/uigone/settings")
        assert settings.status_code == 200
        form = settings.text[settings.text.index('action="/repositories/alice/uigone/delete"') :]
        assert "its webhooks" in form[:200]  # the confirmation dialog
        assert "webhooks subscribed to it" in form
        done = client.post(
            "/repositories/alice/uigone/delete",
            data={"confirm_name": "alice/uigone", "csrf_token": token},
        )
        assert done.status_code == 303, done.text
    with api(srv, "alice") as c:
        assert c.get(f"/api/v0/webhooks/{old['id']}").status_code == 404


# --- item 13: deleting an account deletes its subscriptions ------------------------------------


def test_deleting_an_account_deletes_its_subscriptions(srv: RunningServer, rx: Receiver) -> None:
    authored = subscribe(srv, "leaver", type="TAG_PUSH", key="corp/app", endpoint=rx.url("/lv"))
    kept = subscribe(srv, "carol", type="TAG_PULL", key="corp/app", endpoint=rx.url("/kept"))
    on_ns = subscribe(srv, "admin", type="REPO_EVENT", key="leaver", endpoint=rx.url("/lv-ns"))
    on_repo = subscribe(srv, "admin", type="TAG_PUSH", key="leaver/own", endpoint=rx.url("/lv-r"))
    with api(srv) as c:
        assert c.delete("/enzi/v0/accounts/leaver").status_code == 204
        for sub in (authored, on_ns, on_repo):
            assert c.get(f"/api/v0/webhooks/{sub['id']}").status_code == 404, sub
        assert c.get(f"/api/v0/webhooks/{kept['id']}").status_code == 200
        assert c.delete(f"/api/v0/webhooks/{kept['id']}").status_code == 204
    # Nothing reaches the deleted author's endpoint afterwards.
    sentinel = subscribe(srv, "carol", type="TAG_PUSH", key="corp/app", endpoint=rx.url("/sent"))
    seed.tag_push_events(srv, "corp", "app", 1)
    rx.wait_for(1, "/sent")
    wait_until(lambda: [d for d in deliveries(srv, sentinel["id"]) if d["status"] == "delivered"])
    assert rx.received("/lv") == []


# --- item 25: redelivery bookkeeping ------------------------------------------------------------


def test_redelivery_counts_and_retrying_deliveries(srv: RunningServer, rx: Receiver) -> None:
    rx.default("/flaky", 503)
    sub = subscribe(srv, "alice", type="TAG_PUSH", key="alice/web", endpoint=rx.url("/flaky"))
    seed.tag_push_events(srv, "alice", "web", 1)
    # The first attempt fails; the next is a minute away: the delivery is pending, retrying.
    [d] = wait_until(lambda: [x for x in deliveries(srv, sub["id"], "alice") if x["attempts"]])
    assert d["status"] == "pending" and d["attemptCount"] == 1
    rx.default("/flaky", 200)
    with api(srv, "alice") as c:
        bulk = c.post(
            f"/api/v0/webhooks/{sub['id']}/redeliver",
            json={"since": "2000-01-01T00:00:00Z", "status": "failed"},
        )
        assert bulk.status_code == 202 and bulk.json() == {"redelivered": 1}
    [d] = wait_until(
        lambda: [x for x in deliveries(srv, sub["id"], "alice") if x["status"] == "delivered"]
    )
    assert [a["statusCode"] for a in d["attempts"]] == [503, 200]
    assert d["attemptCount"] == len(d["attempts"]) == 2
    with api(srv, "alice") as c:
        one = c.post(f"/api/v0/webhooks/{sub['id']}/deliveries/{d['id']}/redeliver")
        assert one.status_code == 202
        # Right after a redelivery the count still agrees with the list.
        assert one.json()["attemptCount"] == len(one.json()["attempts"]) == 2
    [d] = wait_until(
        lambda: [
            x
            for x in deliveries(srv, sub["id"], "alice")
            if x["status"] == "delivered" and len(x["attempts"]) == 3
        ]
    )
    assert d["attemptCount"] == 3
    with api(srv, "alice") as c:
        single = c.get(f"/api/v0/webhooks/{sub['id']}/deliveries/{d['id']}").json()
        assert single["attemptCount"] == len(single["attempts"]) == 3
        assert c.delete(f"/api/v0/webhooks/{sub['id']}").status_code == 204


def test_ui_bulk_redelivery_takes_retrying_deliveries(srv: RunningServer, rx: Receiver) -> None:
    rx.default("/ui-flaky", 500)
    sub = subscribe(srv, "alice", type="TAG_PUSH", key="alice/web", endpoint=rx.url("/ui-flaky"))
    seed.tag_push_events(srv, "alice", "web", 1)
    wait_until(lambda: [x for x in deliveries(srv, sub["id"], "alice") if x["attempts"]])
    rx.default("/ui-flaky", 200)
    with signed_in(srv, "alice", PASSWORD) as (client, token):
        done = client.post(
            f"/webhooks/{sub['id']}/redeliver",
            data={"since": "2000-01-01T00:00", "csrf_token": token},
        )
        assert done.status_code == 303, done.text
        assert done.headers["location"].endswith("msg=bulk-1")
        page = client.get(done.headers["location"])
        assert "1 failed or retrying delivery is queued again" in page.text
    wait_until(
        lambda: [x for x in deliveries(srv, sub["id"], "alice") if x["status"] == "delivered"]
    )
    with api(srv, "alice") as c:
        assert c.delete(f"/api/v0/webhooks/{sub['id']}").status_code == 204
