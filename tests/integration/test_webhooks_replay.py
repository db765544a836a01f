"""Replay, signed test deliveries and the delivery log's details, end to end: a real server and
a real receiver. A replay re-sends the retained events as new deliveries marked as replays
(same webhook-id, same body, verified signatures), within the retention period and for those
who may manage the subscription only; a subscription's test is signed like its deliveries and
MSR's test is not; the log shows each attempt's request as the receiver got it, no secret, and
a pending delivery's next attempt time."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from tests.fakes import webhook_seed as seed
from tests.fakes.databases import create_database, drop_database
from tests.fakes.receiver import Receiver, Reply
from tests.fakes.server import RunningServer, make_server

pytestmark = pytest.mark.e2e

ENV = {
    # A long retry delay: a failed first attempt stays pending, with its next attempt ahead.
    "DOCKYARD_WEBHOOK_RETRY_SCHEDULE": "600",
    "DOCKYARD_EVENT_RETENTION_DAYS": "1",
    "DOCKYARD_WEBHOOK_BLOCKED_NETWORKS": "127.0.0.2/32",
}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    folder: Path = tmp_path_factory.mktemp("wh-replay")
    server = make_server(folder, create_database(folder), ENV)
    server.start()
    seed.user(server, "alice")
    seed.user(server, "bob")
    seed.repo(server, "alice", "web")
    seed.repo(server, "alice", "other")
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


def deliveries(srv: RunningServer, wid: str) -> list[dict[str, Any]]:
    with api(srv) as c:
        resp = c.get(f"/api/v0/webhooks/{wid}/deliveries", params={"pageSize": 100})
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


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


@contextmanager
def signed_in(srv: RunningServer, user: str) -> Iterator[tuple[httpx.Client, str]]:
    """A web UI session (cookie) and its CSRF token."""
    with httpx.Client(base_url=srv.url, timeout=30) as ui:
        token = CSRF.search(ui.get("/login").text).group(1)  # type: ignore[union-attr]
        signed = ui.post(
            "/login", data={"username": user, "password": "password-123", "csrf_token": token}
        )
        assert signed.status_code == 303, signed.text
        yield ui, CSRF.search(ui.get("/repositories").text).group(1)  # type: ignore[union-attr]


def test_replay_resends_the_matched_events_as_replays(srv: RunningServer, rx: Receiver) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    sub = subscribe(srv, "alice", type="TAG_PUSH", key="alice/web", endpoint=rx.url("/replay"))
    other = subscribe(srv, "alice", type="TAG_PUSH", key="alice/other", endpoint=rx.url("/o"))
    seed.tag_push_events(srv, "alice", "web", 3)
    seed.tag_push_events(srv, "alice", "other", 2)
    originals = rx.wait_for(3, "/replay")
    rx.wait_for(2, "/o")
    wait_until(lambda: all(d["status"] == "delivered" for d in deliveries(srv, sub["id"])))

    with api(srv, "alice") as c:
        resp = c.post(f"/api/v0/webhooks/{sub['id']}/replay", json={"since": stamp(before)})
    assert resp.status_code == 202, resp.text
    assert resp.json() == {"queued": 3, "more": False, "nextSince": None}

    got = rx.wait_for(6, "/replay")
    replayed = got[3:]
    # The same messages: webhook-ids and bodies as first sent, signed with the secret.
    assert sorted(r.headers["webhook-id"] for r in replayed) == sorted(
        r.headers["webhook-id"] for r in originals
    )
    assert sorted(r.body for r in replayed) == sorted(r.body for r in originals)
    for r in replayed:
        Webhook(sub["secret"]).verify(r.body, r.headers)
    log = wait_until(
        lambda: (
            (d := deliveries(srv, sub["id"]))
            and all(x["status"] == "delivered" for x in d)
            and len(d) == 6
            and d
        )
    )
    assert sorted(d["replay"] for d in log) == [False] * 3 + [True] * 3
    # Only that subscription: the other one's receiver got nothing more.
    time.sleep(0.3)
    assert len(rx.received("/o")) == 2
    assert all(not d["replay"] for d in deliveries(srv, other["id"]))

    # A time after every event: nothing to replay.
    with api(srv, "alice") as c:
        later = stamp(datetime.now(UTC) + timedelta(seconds=1))
        resp = c.post(f"/api/v0/webhooks/{sub['id']}/replay", json={"since": later})
    assert resp.status_code == 202 and resp.json()["queued"] == 0


def test_replay_is_bounded_and_guarded(srv: RunningServer, rx: Receiver) -> None:
    sub = subscribe(srv, "alice", type="TAG_PUSH", key="alice/web", endpoint=rx.url("/guard"))
    url = f"/api/v0/webhooks/{sub['id']}/replay"
    recent = {"since": stamp(datetime.now(UTC) - timedelta(hours=1))}
    with api(srv, "alice") as c:
        too_old = c.post(url, json={"since": stamp(datetime.now(UTC) - timedelta(days=2))})
        assert too_old.status_code == 400, too_old.text
        err = too_old.json()["errors"][0]
        assert err["code"] == "INVALID_PARAMETERS"
        assert "retention" in err["message"] and err["detail"]["field"] == "since"
        for bad in ({"since": "yesterday"}, {"since": "2024-01-01T00:00:00"}, {}, [1]):
            answer = c.post(url, json=bad)
            assert answer.status_code == 400, (bad, answer.text)
        assert c.post(url, content=b"{").status_code == 400
        assert c.post("/api/v0/webhooks/nope/replay", json=recent).status_code == 404
    with api(srv, "bob") as c:
        # Someone who may not manage it: answered as a missing subscription.
        answer = c.post(url, json=recent)
        assert answer.status_code == 404, answer.text
        assert answer.json()["errors"][0]["code"] == "NO_SUCH_WEBHOOK"
    with httpx.Client(base_url=srv.url) as anonymous:
        assert anonymous.post(url, json=recent).status_code == 401
    with api(srv, "alice") as c:
        off = c.post("/api/v0/webhooks/update", json={"id": sub["id"], "inactive": True})
        assert off.status_code == 200, off.text
        inactive = c.post(url, json=recent)
        assert inactive.status_code == 400 and "inactive" in inactive.text


def test_the_log_shows_each_attempts_request_and_the_next_attempt(
    srv: RunningServer, rx: Receiver
) -> None:
    rx.default("/flaky", Reply(503, body="try later"))
    sub = subscribe(srv, "alice", type="TAG_PUSH", key="alice/web", endpoint=rx.url("/flaky"))
    seed.tag_push_events(srv, "alice", "web", 1)
    [got] = rx.wait_for(1, "/flaky")
    [d] = wait_until(lambda: [x for x in deliveries(srv, sub["id"]) if x["attempts"]])
    assert d["status"] == "pending" and not d["replay"]
    # The retry is 600 s away: the log says when.
    next_at = datetime.fromisoformat(d["nextAttemptAt"].replace("Z", "+00:00"))
    assert next_at > datetime.now(UTC) + timedelta(seconds=500)
    [attempt] = d["attempts"]
    assert attempt["statusCode"] == 503 and attempt["response"] == "try later"
    sent = attempt["request"]
    assert sent["body"].encode() == got.body
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature", "Content-Type"):
        assert sent["headers"][name] == got.headers[name], name
    # What was logged verifies against the secret, and the secret is nowhere in the log.
    Webhook(sub["secret"]).verify(sent["body"], sent["headers"])
    with api(srv, "alice") as c:
        one = c.get(f"/api/v0/webhooks/{sub['id']}/deliveries/{d['id']}")
    assert one.status_code == 200 and one.json()["attempts"][0]["request"] == sent
    assert sub["secret"] not in one.text
    assert sub["secret"].removeprefix("whsec_") not in one.text

    # The web UI's subscription page shows the same, and the next attempt time.
    with signed_in(srv, "alice") as (ui, _token):
        page = ui.get(f"/webhooks/{sub['id']}").text
    assert got.headers["webhook-signature"] in page
    assert "try later" in page and "next attempt" in page
    assert sub["secret"] not in page


def test_a_subscriptions_test_is_signed_and_msrs_is_not(srv: RunningServer, rx: Receiver) -> None:
    sub = subscribe(srv, "alice", type="TAG_PUSH", key="alice/web", endpoint=rx.url("/test"))
    with api(srv, "alice") as c:
        answer = c.post(f"/api/v0/webhooks/{sub['id']}/test")
        assert answer.status_code == 200, answer.text
        assert answer.json()["statusCode"] == 200
        rotated = c.post(f"/api/v0/webhooks/{sub['id']}/rotateSecret")
        assert rotated.status_code == 200, rotated.text
        assert c.post(f"/api/v0/webhooks/{sub['id']}/test").status_code == 200
        msr = c.post("/api/v0/webhooks/test", json={"type": "TAG_PUSH", "endpoint": rx.url("/msr")})
        assert msr.status_code == 200, msr.text
    first, second = rx.wait_for(2, "/test")
    payload = Webhook(sub["secret"]).verify(first.body, first.headers)
    assert payload["type"] == "TAG_PUSH" and first.headers["webhook-id"].startswith("test-")
    # After a rotation both secrets sign, as for a real delivery during the overlap.
    Webhook(rotated.json()["secret"]).verify(second.body, second.headers)
    Webhook(sub["secret"]).verify(second.body, second.headers)
    [plain] = rx.wait_for(1, "/msr")
    assert "webhook-signature" not in {k.lower() for k in plain.headers}
    assert plain.headers["webhook-id"].startswith("test-")
    # A test is not a delivery: the log stays empty.
    assert deliveries(srv, sub["id"]) == []

    rx.default("/down", 500)
    failing = subscribe(srv, "alice", type="TAG_PUSH", key="alice/web", endpoint=rx.url("/down"))
    with api(srv, "alice") as c:
        failed = c.post(f"/api/v0/webhooks/{failing['id']}/test")
        assert failed.status_code == 400
        assert failed.json()["errors"][0]["code"] == "WEBHOOK_TEST_FAILED"
    with api(srv, "bob") as c:
        assert c.post(f"/api/v0/webhooks/{sub['id']}/test").status_code == 404


def test_the_subscription_page_replays_and_sends_a_signed_test(
    srv: RunningServer, rx: Receiver
) -> None:
    # A repository of its own: the replay takes every event on it since the minute before.
    seed.repo(srv, "alice", "paged")
    before = datetime.now(UTC) - timedelta(minutes=1)
    sub = subscribe(srv, "alice", type="TAG_PUSH", key="alice/paged", endpoint=rx.url("/page"))
    seed.tag_push_events(srv, "alice", "paged", 2)
    rx.wait_for(2, "/page")
    with signed_in(srv, "alice") as (ui, token):
        # The form's datetime-local value: minutes, no zone (the page says UTC).
        since = before.strftime("%Y-%m-%dT%H:%M")
        answer = ui.post(
            f"/webhooks/{sub['id']}/replay", data={"since": since, "csrf_token": token}
        )
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"].endswith("msg=replay-2")
        assert "2 events are queued again as replays." in ui.get(answer.headers["location"]).text
        rx.wait_for(4, "/page")
        too_old = ui.post(
            f"/webhooks/{sub['id']}/replay",
            data={"since": "2001-01-01T00:00", "csrf_token": token},
        )
        assert too_old.status_code == 400 and "retention" in too_old.text
        tested = ui.post(f"/webhooks/{sub['id']}/test", data={"csrf_token": token})
        assert tested.status_code == 303 and tested.headers["location"].endswith("msg=test-ok")
        [test] = [r for r in rx.received("/page") if r.headers["webhook-id"].startswith("test-")]
        Webhook(sub["secret"]).verify(test.body, test.headers)
        page = wait_until(
            lambda: (
                (text := ui.get(f"/webhooks/{sub['id']}").text).count('badge replay"') == 2 and text
            )
        )
        assert "Send a signed test" in page and "Replay events since" in page
        assert ui.post(f"/webhooks/{sub['id']}/test", data={}).status_code == 403  # no CSRF
    with signed_in(srv, "bob") as (bob, bob_token):
        refused = bob.post(
            f"/webhooks/{sub['id']}/replay", data={"since": since, "csrf_token": bob_token}
        )
        assert refused.status_code == 404
