"""Delivery end to end: real server, real HTTP/HTTPS receivers. Scopes, signatures, TLS
pinning, retries, 410, redirects and SSRF at delivery time, the delivery log, redelivery,
metrics."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from standardwebhooks import Webhook, WebhookVerificationError

from tests.fakes import webhook_seed as seed
from tests.fakes.databases import create_database, drop_database
from tests.fakes.receiver import Receiver, Reply, ca_pem
from tests.fakes.server import RunningServer, make_server

ENV = {
    "DOCKYARD_WEBHOOK_BLOCKED_NETWORKS": "127.0.0.2/32",
    "DOCKYARD_WEBHOOK_RETRY_SCHEDULE": "0.2,0.5,1",
}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    folder: Path = tmp_path_factory.mktemp("wh-delivery")
    server = make_server(folder, create_database(folder), ENV)
    server.start()
    seed.user(server, "alice")
    seed.user(server, "bob")
    seed.repo(server, "alice", "web")
    seed.repo(server, "alice", "other")
    seed.repo(server, "bob", "app")
    # The repositories' events go out before any test subscribes (a delivery process running
    # at a lower priority on a busy machine may take a moment).
    seed.wait_dispatched(server)
    yield server
    server.kill()
    drop_database(server.database_url)


@pytest.fixture(scope="module")
def rx() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def api(srv: RunningServer, who: str = "admin") -> httpx.Client:
    return srv.client(auth=srv.admin_auth if who == "admin" else (who, "password-123"))


def subscribe(srv: RunningServer, who: str = "admin", **body: Any) -> dict[str, Any]:
    with api(srv, who) as c:
        resp = c.post("/api/v0/webhooks", json=body)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def deliveries(srv: RunningServer, wid: str, **params: Any) -> list[dict[str, Any]]:
    with api(srv) as c:
        resp = c.get(f"/api/v0/webhooks/{wid}/deliveries", params={"pageSize": 100, **params})
    assert resp.status_code == 200, resp.text
    return list(resp.json())


def wait_until(predicate: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def webhook(srv: RunningServer, wid: str) -> dict[str, Any]:
    with api(srv) as c:
        return dict(c.get(f"/api/v0/webhooks/{wid}").json())


def test_repo_events_scopes_and_signatures(srv: RunningServer, rx: Receiver) -> None:
    ns = subscribe(srv, "alice", type="REPO_EVENT", key="alice", endpoint=rx.url("/ns"))
    admin_all = subscribe(srv, type="REPO_EVENT", endpoint=rx.url("/all"))
    only_deleted = subscribe(
        srv, "alice", type="REPO_DELETED", key="alice", endpoint=rx.url("/del")
    )
    other_ns = subscribe(srv, "bob", type="REPO_EVENT", key="bob", endpoint=rx.url("/bob"))
    seed.repo(srv, "alice", "fresh", author="alice")

    [got] = rx.wait_for(1, "/ns")
    body = got.json
    assert body["type"] == "REPO_EVENT"
    assert body["location"] == "/repositories/alice/fresh"
    contents = body["contents"]
    assert contents["event"] == "REPO_CREATED" and contents["namespace"] == "alice"
    assert contents["repository"] == "fresh" and contents["author"] == "alice"
    assert contents["data"]["name"] == "fresh" and contents["data"]["namespace"] == "alice"
    # Standard Webhooks signature, verified by the reference library.
    verified = Webhook(ns["secret"]).verify(got.body, got.headers)
    assert verified == body
    with pytest.raises(WebhookVerificationError):
        Webhook(other_ns["secret"]).verify(got.body, got.headers)
    assert got.headers["User-Agent"].startswith("dockyard/")
    assert got.headers["Content-Type"] == "application/json"
    # the key-less admin subscription gets it too, with the same stable event id
    [all_got] = rx.wait_for(1, "/all")
    assert all_got.headers["webhook-id"] == got.headers["webhook-id"]
    Webhook(admin_all["secret"]).verify(all_got.body, all_got.headers)
    # the alias filter and the other namespace: nothing (the dispatch transaction already ran)
    assert deliveries(srv, only_deleted["id"]) == []
    assert deliveries(srv, other_ns["id"]) == []
    wait_until(lambda: webhook(srv, ns["id"])["lastSuccessfulAt"] != "0001-01-01T00:00:00Z")


def test_repository_scope(srv: RunningServer, rx: Receiver) -> None:
    web = subscribe(srv, "alice", type="TAG_PUSH", key="alice/web", endpoint=rx.url("/web"))
    other = subscribe(srv, "alice", type="TAG_PUSH", key="alice/other", endpoint=rx.url("/other"))
    pulls = subscribe(srv, "alice", type="TAG_PULL", key="alice/web", endpoint=rx.url("/pull"))
    seed.tag_push_events(srv, "alice", "web", 3)
    got = rx.wait_for(3, "/web")
    assert {g.json["contents"]["tag"] for g in got} == {"t0", "t1", "t2"}
    assert len({g.headers["webhook-id"] for g in got}) == 3
    assert deliveries(srv, other["id"]) == [] and deliveries(srv, pulls["id"]) == []
    log = wait_until(lambda: [d for d in deliveries(srv, web["id"]) if d["status"] == "delivered"])
    assert len(log) == 3
    assert log[0]["attempts"][0]["statusCode"] == 200
    assert log[0]["attempts"][0]["response"] == "ok"


def test_tls_pinning_and_skip(srv: RunningServer) -> None:
    ca = trustme.CA()
    with Receiver(tls=ca) as tls_rx:
        pinned = subscribe(
            srv, type="TAG_PUSH", key="bob/app", endpoint=tls_rx.url("/pinned"), tlsCert=ca_pem(ca)
        )
        wrong = subscribe(
            srv,
            type="TAG_PUSH",
            key="bob/app",
            endpoint=tls_rx.url("/wrong"),
            tlsCert=ca_pem(trustme.CA()),
        )
        skip = subscribe(
            srv,
            type="TAG_PUSH",
            key="bob/app",
            endpoint=tls_rx.url("/skip"),
            skipTLSVerification=True,
        )
        system = subscribe(srv, type="TAG_PUSH", key="bob/app", endpoint=tls_rx.url("/system"))
        seed.tag_push_events(srv, "bob", "app", 1)
        tls_rx.wait_for(1, "/pinned")
        tls_rx.wait_for(1, "/skip")

        def tls_failed(wid: str) -> bool:
            log = deliveries(srv, wid)
            return bool(log and log[0]["attempts"] and "tls" in log[0]["attempts"][0]["error"])

        wait_until(lambda: tls_failed(wrong["id"]))
        wait_until(lambda: tls_failed(system["id"]))
        assert tls_rx.received("/wrong") == [] and tls_rx.received("/system") == []
        assert "tls" in webhook(srv, wrong["id"])["lastError"]
        del pinned, skip


def test_down_then_500_then_200(srv: RunningServer) -> None:
    late = Receiver()  # port chosen, nothing listening yet
    sub = subscribe(srv, type="TAG_DELETE", key="bob/app", endpoint=late.url("/late"))
    seed.repo(srv, "bob", "placeholder")  # unrelated traffic
    from dockyard.clock import utcnow
    from dockyard.events.types import EventType, ImageRef, tag_event

    async def record(session: Any) -> None:
        from dockyard.events import bus

        image = ImageRef("bob", "app", "sha256:" + "a" * 64, "linux", "amd64", "gone")
        bus.record(session, tag_event(EventType.TAG_DELETE, srv.host, image, "bob", utcnow()))

    seed._run(srv, record)
    wait_until(lambda: deliveries(srv, sub["id"]) and deliveries(srv, sub["id"])[0]["attempts"])
    late.reply("/late", Reply(500, body="not yet"))
    late.start()
    try:
        [d] = wait_until(
            lambda: [x for x in deliveries(srv, sub["id"]) if x["status"] == "delivered"], 30
        )
        codes = [a["statusCode"] for a in d["attempts"]]
        assert codes[0] is None and "network" in d["attempts"][0]["error"]
        assert 500 in codes and codes[-1] == 200
        assert codes.index(500) < len(codes) - 1
        assert d["attempts"][-1]["outcome"] == "delivered"
        body = late.received("/late")[-1].json
        assert body["type"] == "TAG_DELETE" and body["contents"]["deletedAt"]
        state = wait_until(
            lambda: (
                (w := webhook(srv, sub["id"]))["consecutiveFailures"] == 0
                and w["lastSuccessfulAt"] != "0001-01-01T00:00:00Z"
                and w
            )
        )
        assert state["lastError"] == ""
    finally:
        late.stop()


def test_410_deactivates_and_4xx_fails_at_once(srv: RunningServer, rx: Receiver) -> None:
    rx.default("/gone", 410)
    rx.default("/bad", 400)
    gone = subscribe(srv, type="MANIFEST_PUSH", key="alice/other", endpoint=rx.url("/gone"))
    bad = subscribe(srv, type="TAG_PUSH", key="alice/other", endpoint=rx.url("/bad"))
    seed.tag_push_events(srv, "alice", "other", 1)
    # MANIFEST_PUSH: record one directly
    from dockyard.clock import utcnow
    from dockyard.events import bus
    from dockyard.events.types import EventType, ImageRef, manifest_event

    async def record(session: Any) -> None:
        image = ImageRef("alice", "other", "sha256:" + "b" * 64, "linux", "amd64")
        bus.record(session, manifest_event(EventType.MANIFEST_PUSH, srv.host, image, "a", utcnow()))

    seed._run(srv, record)
    state = wait_until(lambda: (w := webhook(srv, gone["id"]))["inactive"] and w)
    assert "410" in state["inactiveReason"]
    [d] = wait_until(lambda: [x for x in deliveries(srv, bad["id"]) if x["status"] == "failed"])
    assert len(d["attempts"]) == 1 and d["attempts"][0]["statusCode"] == 400
    assert d["attempts"][0]["outcome"] == "failed"
    with api(srv) as c:
        failed_only = c.get(f"/api/v0/webhooks/{bad['id']}/deliveries", params={"status": "failed"})
        assert [x["id"] for x in failed_only.json()] == [d["id"]]
        assert c.get(f"/api/v0/webhooks/{bad['id']}/deliveries?status=pending").json() == []
        assert c.get(f"/api/v0/webhooks/{bad['id']}/deliveries?status=bogus").status_code == 400
        # redeliver one, now that the receiver is fixed
        rx.default("/bad", 200)
        resp = c.post(f"/api/v0/webhooks/{bad['id']}/deliveries/{d['id']}/redeliver")
        assert resp.status_code == 202
    [d2] = wait_until(lambda: [x for x in deliveries(srv, bad["id"]) if x["status"] == "delivered"])
    assert [a["statusCode"] for a in d2["attempts"]] == [400, 200]
    with api(srv) as c:
        resp = c.post(
            f"/api/v0/webhooks/{bad['id']}/redeliver",
            json={"since": "2000-01-01T00:00:00Z", "status": "delivered"},
        )
        assert resp.status_code == 202 and resp.json() == {"redelivered": 1}
        bad_since = c.post(f"/api/v0/webhooks/{bad['id']}/redeliver", json={"since": "yesterday"})
        assert bad_since.status_code == 400
    wait_until(lambda: len(rx.received("/bad")) == 3)


def test_redirect_to_blocked_address_not_followed(srv: RunningServer, rx: Receiver) -> None:
    with Receiver(host="127.0.0.2") as blocked_rx:
        rx.default("/redirect", Reply(302, headers={"Location": blocked_rx.url("/internal")}))
        sub = subscribe(srv, type="TAG_PUSH", key="bob/app", endpoint=rx.url("/redirect"))
        seed.tag_push_events(srv, "bob", "app", 1)
        [d] = wait_until(lambda: [x for x in deliveries(srv, sub["id"]) if x["status"] == "failed"])
        assert d["attempts"][0]["statusCode"] == 302
        assert blocked_rx.received() == []


def test_dns_resolving_to_blocked_network_recorded_at_delivery(
    srv: RunningServer, rx: Receiver
) -> None:
    # Created while allowed (a name that does not resolve yet is accepted) ...
    sub = subscribe(srv, type="TAG_PUSH", key="alice/web", endpoint="http://no-such-host.invalid/x")
    with api(srv) as c:
        # ... and an IP literal in a blocked network is refused when the endpoint changes.
        resp = c.patch(f"/api/v0/webhooks/{sub['id']}", json={"endpoint": "http://127.0.0.2:1/"})
        assert resp.status_code == 400
    seed.tag_push_events(srv, "alice", "web", 1)
    [d] = wait_until(lambda: [x for x in deliveries(srv, sub["id"]) if x["attempts"]])
    assert "network" in d["attempts"][0]["error"]


def test_metrics(srv: RunningServer) -> None:
    with api(srv) as c:  # DOCKYARD_METRICS=authenticated by default: an admin may read them
        text = c.get("/metrics").text
    for name in (
        "dockyard_webhook_deliveries_total",
        "dockyard_webhook_attempts_total",
        "dockyard_webhook_queue_depth",
        "dockyard_webhook_oldest_pending_age_seconds",
        "dockyard_webhook_delivery_latency_seconds_bucket",
    ):
        assert name in text
    assert 'dockyard_webhook_deliveries_total{outcome="delivered"}' in text
