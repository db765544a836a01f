"""Subscription options beyond MSR, end to end with the real server, real pushes and a real
receiver: a tagFilter skips pushes of other tags, a CloudEvents subscription receives a valid
signed CloudEvent, a client certificate opens an endpoint that requires mutual TLS."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from cloudevents.core.bindings.http import HTTPMessage, from_structured_event
from standardwebhooks import Webhook

from tests.fakes import webhook_seed as seed
from tests.fakes.client_certs import client_pair, other_key
from tests.fakes.databases import create_database, drop_database
from tests.fakes.receiver import Receiver, ca_pem
from tests.fakes.server import RunningServer, make_server
from tests.integration.registry_helpers import _rows, push

REPO = "admin/opts"
# Loopback receivers: only a network no test uses is blocked.
ENV = {
    "DOCKYARD_WEBHOOK_BLOCKED_NETWORKS": "127.0.0.2/32",
    "DOCKYARD_WEBHOOK_RETRY_SCHEDULE": "0.2,0.5",
}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    folder: Path = tmp_path_factory.mktemp("wh-options")
    server = make_server(folder, create_database(folder), ENV)
    server.start()
    seed.repo(server, "admin", "opts")
    yield server
    server.kill()
    drop_database(server.database_url)


@pytest.fixture(scope="module")
def rx() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def api(srv: RunningServer) -> httpx.Client:
    return srv.client(auth=srv.admin_auth)


def subscribe(srv: RunningServer, **body: Any) -> dict[str, Any]:
    with api(srv) as c:
        resp = c.post("/api/v0/webhooks", json={"type": "TAG_PUSH", "key": REPO, **body})
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


def push_tags(srv: RunningServer, *tags: str) -> None:
    with api(srv) as c:
        for tag in tags:
            push(c, REPO, tag, f"layer of {tag} {time.monotonic()}".encode())


def test_tag_filter_skips_pushes_of_other_tags(srv: RunningServer, rx: Receiver) -> None:
    filtered = subscribe(srv, endpoint=rx.url("/filtered"), tagFilter=["v*", "!*-rc*"])
    everything = subscribe(srv, endpoint=rx.url("/everything"))
    assert filtered["tagFilter"] == ["v*", "!*-rc*"] and everything["tagFilter"] == []
    push_tags(srv, "latest", "v1.0-rc1", "v1.0")

    rx.wait_for(3, "/everything")
    [got] = rx.wait_for(1, "/filtered")
    assert got.json["contents"]["tag"] == "v1.0"
    # Every event was dispatched (the unfiltered one heard all three): one delivery only.
    assert [d["eventType"] for d in deliveries(srv, filtered["id"])] == ["TAG_PUSH"]
    assert rx.received("/filtered") == [got]

    # PATCH changes it (a comma string too); GET shows it; [] clears it.
    with api(srv) as c:
        resp = c.patch(f"/api/v0/webhooks/{filtered['id']}", json={"tagFilter": "latest"})
        assert resp.status_code == 200 and resp.json()["tagFilter"] == ["latest"]
        assert c.get(f"/api/v0/webhooks/{filtered['id']}").json()["tagFilter"] == ["latest"]
    push_tags(srv, "v2.0", "latest")
    rx.wait_for(5, "/everything")
    [_, again] = rx.wait_for(2, "/filtered")
    assert again.json["contents"]["tag"] == "latest"


def test_options_refused_with_msr_errors(srv: RunningServer) -> None:
    cert, key = client_pair(trustme.CA())
    cases = [
        ({"type": "MANIFEST_PUSH", "tagFilter": ["v*"]}, "INVALID_PARAMETERS", "tagFilter"),
        ({"minSeverity": "major"}, "INVALID_PARAMETERS", "minSeverity"),
        ({"type": "SCAN_COMPLETED", "minSeverity": "severe"}, "INVALID_PARAMETERS", "minSeverity"),
        ({"format": "xml"}, "INVALID_PARAMETERS", "format"),
        ({"tlsClientCert": cert}, "INVALID_TLS_CERT", "tlsClientKey"),
        ({"tlsClientCert": cert, "tlsClientKey": other_key()}, "INVALID_TLS_CERT", "tlsClientKey"),
        ({"tlsClientCert": "junk", "tlsClientKey": key}, "INVALID_TLS_CERT", "tlsClientCert"),
    ]
    with api(srv) as c:
        for extra, code, field in cases:
            body = {"type": "TAG_PUSH", "key": REPO, "endpoint": "https://example.com", **extra}
            resp = c.post("/api/v0/webhooks", json=body)
            assert resp.status_code == 400, (extra, resp.text)
            error = resp.json()["errors"][0]
            assert (error["code"], error["detail"]["field"]) == (code, field), extra
        ok = c.post(
            "/api/v0/webhooks",
            json={"type": "SCAN_COMPLETED", "key": REPO, "endpoint": "https://example.com"},
        ).json()
        resp = c.patch(f"/api/v0/webhooks/{ok['id']}", json={"tagFilter": ["a b"]})
        assert (
            resp.status_code == 400 and resp.json()["errors"][0]["detail"]["field"] == "tagFilter"
        )
        resp = c.post("/api/v0/webhooks/update", json={"id": ok["id"], "minSeverity": "critical"})
        assert resp.status_code == 200, resp.text
        assert resp.json()[0]["minSeverity"] == "critical"


def test_cloudevents_subscription_gets_a_signed_cloudevent(
    srv: RunningServer, rx: Receiver
) -> None:
    cloud = subscribe(srv, endpoint=rx.url("/cloud"), format="cloudevents", tagFilter="ce-*")
    msr = subscribe(srv, endpoint=rx.url("/msr"), tagFilter="ce-*")
    assert cloud["format"] == "cloudevents" and msr["format"] == "msr"
    push_tags(srv, "ce-1")

    [got] = rx.wait_for(1, "/cloud")
    [plain] = rx.wait_for(1, "/msr")
    assert got.headers["Content-Type"] == "application/cloudevents+json"
    Webhook(cloud["secret"]).verify(got.body, got.headers)
    event = from_structured_event(HTTPMessage(headers=got.headers, body=got.body))
    assert event.get_specversion() == "1.0"
    assert event.get_id() == got.headers["webhook-id"] == plain.headers["webhook-id"]
    assert event.get_type() == "com.mirantis.msr.tag_push"
    assert event.get_source() == plain.json["location"] == f"/repositories/{REPO}/tags/ce-1"
    assert event.get_subject() == f"{REPO}:ce-1"
    assert event.get_data() == plain.json["contents"]
    assert plain.headers["Content-Type"] == "application/json"


def test_client_certificate_for_mutual_tls(srv: RunningServer) -> None:
    server_ca, client_ca = trustme.CA(), trustme.CA()
    cert, key = client_pair(client_ca, "hooks-client")
    with Receiver(tls=server_ca, client_ca=client_ca) as mtls:
        with_cert = subscribe(
            srv,
            endpoint=mtls.url("/with"),
            tlsCert=ca_pem(server_ca),
            tlsClientCert=cert,
            tlsClientKey=key,
            tagFilter="mtls",
        )
        without = subscribe(
            srv, endpoint=mtls.url("/without"), tlsCert=ca_pem(server_ca), tagFilter="mtls"
        )
        assert with_cert["tlsClientCertSubject"].startswith("CN=hooks-client,")
        assert without["tlsClientCertSubject"] == ""
        push_tags(srv, "mtls")

        [got] = mtls.wait_for(1, "/with")
        Webhook(with_cert["secret"]).verify(got.body, got.headers)

        def failed_attempt() -> bool:
            log = deliveries(srv, without["id"])
            return bool(log and log[0]["attempts"] and log[0]["attempts"][0]["error"])

        wait_until(failed_attempt)
        assert mtls.received("/without") == []
        assert deliveries(srv, without["id"])[0]["status"] != "delivered"

    # Never returned, stored sealed: neither PEM is in an answer or in the table.
    with api(srv) as c:
        shown = c.get(f"/api/v0/webhooks/{with_cert['id']}").text
        listed = c.get("/api/v0/webhooks").text
    for text in (shown, listed, str(with_cert)):
        assert "PRIVATE KEY" not in text and "BEGIN CERTIFICATE-----\nMI" not in text
        assert key not in text and cert not in text
    [(sealed,)] = _rows(
        srv.database_url,
        "SELECT tls_client_sealed FROM webhook_subscriptions WHERE id = $1",
        (with_cert["id"],),
    )
    assert sealed and "PRIVATE KEY" not in sealed and "CERTIFICATE" not in sealed

    # "" for both removes it.
    with api(srv) as c:
        resp = c.patch(
            f"/api/v0/webhooks/{with_cert['id']}", json={"tlsClientCert": "", "tlsClientKey": ""}
        )
    assert resp.status_code == 200 and resp.json()["tlsClientCertSubject"] == ""


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def test_ui_form_sets_the_options_and_the_list_shows_them(srv: RunningServer) -> None:
    cert, key = client_pair(trustme.CA(), "ui-client")
    with httpx.Client(base_url=srv.url, timeout=30) as client:
        token = CSRF.search(client.get("/login").text).group(1)  # type: ignore[union-attr]
        signed = client.post(
            "/login",
            data={"username": "admin", "password": srv.admin_password, "csrf_token": token},
        )
        assert signed.status_code == 303
        form = client.get(f"/repositories/{REPO}/webhooks/new")
        token = CSRF.search(form.text).group(1)  # type: ignore[union-attr]
        for field in ("tagFilter", "minSeverity", "format", "tlsClientCert", "tlsClientKey"):
            assert f'name="{field}"' in form.text
        fields = {
            "type": "TAG_PUSH",
            "endpoint": "https://example.com/ui-hook",
            "tagFilter": "v*, !*-rc*",
            "format": "cloudevents",
            "tlsClientCert": cert,
            "csrf_token": token,
        }
        refused = client.post(
            f"/repositories/{REPO}/webhooks", data={**fields, "tlsClientKey": other_key()}
        )
        assert refused.status_code == 400 and 'role="alert"' in refused.text
        assert "not the private key" in refused.text and "PRIVATE KEY-----\nM" not in refused.text
        made = client.post(f"/repositories/{REPO}/webhooks", data={**fields, "tlsClientKey": key})
        assert made.status_code == 303, made.text
        assert "CloudEvents 1.0" in client.get(made.headers["location"]).text
        listing = client.get(f"/repositories/{REPO}/webhooks").text
    assert "tags: v*, !*-rc*" in listing and "CloudEvents" in listing
    assert "client certificate" in listing and key not in listing
    with api(srv) as c:
        [hook] = [h for h in c.get("/api/v0/webhooks").json() if h["endpoint"].endswith("ui-hook")]
    assert hook["tagFilter"] == ["v*", "!*-rc*"] and hook["format"] == "cloudevents"
    assert hook["tlsClientCertSubject"].startswith("CN=ui-client")
