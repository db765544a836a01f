"""webhooks.formats and the job builder: MSR bodies stay as they were; CloudEvents bodies are
valid CloudEvents 1.0 structured events carrying the MSR contents, signed the same way."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_structured_event
from standardwebhooks import Webhook

from dockyard.events.samples import sample_payload
from dockyard.events.types import EventType
from dockyard.webhooks.formats import CLOUDEVENTS, MSR, encode, event_type, headers_of
from dockyard.webhooks.job import JobSource, build_jobs
from dockyard.webhooks.outbound import encode_body
from dockyard.webhooks.signing import generate_secret

WEBHOOK_ID = "6c1d0e0a-2f4b-4c8e-9d3a-7b5e1f2a3c4d"


def test_msr_body_is_unchanged() -> None:
    payload = sample_payload(EventType.TAG_PUSH)
    assert encode(MSR, payload, WEBHOOK_ID) == encode_body(payload)
    assert headers_of(MSR) == {"Content-Type": "application/json"}


def test_cloudevent_of_a_tag_push() -> None:
    payload = sample_payload(EventType.TAG_PUSH)
    body = encode(CLOUDEVENTS, payload, WEBHOOK_ID)
    doc = json.loads(body)
    assert doc["specversion"] == "1.0"
    assert doc["id"] == WEBHOOK_ID
    assert doc["type"] == "com.mirantis.msr.tag_push"
    assert doc["source"] == payload["location"] == "/repositories/foo/bar/tags/latest"
    assert doc["subject"] == "foo/bar:latest"
    assert doc["datacontenttype"] == "application/json"
    assert doc["data"] == payload["contents"]
    assert datetime.fromisoformat(doc["time"].replace("Z", "+00:00")).tzinfo is not None
    # The SDK reads it back as the same event.
    event = from_structured_event(HTTPMessage(headers=headers_of(CLOUDEVENTS), body=body))
    assert event.get_id() == WEBHOOK_ID and event.get_data() == payload["contents"]
    assert headers_of(CLOUDEVENTS) == {"Content-Type": "application/cloudevents+json"}


@pytest.mark.parametrize("kind", list(EventType))
def test_every_event_type_is_a_valid_cloudevent(kind: EventType) -> None:
    payload = sample_payload(kind)
    doc = json.loads(encode(CLOUDEVENTS, payload, WEBHOOK_ID))
    assert doc["type"].startswith("com.mirantis.msr.")
    assert doc["source"]
    assert doc["data"] == payload["contents"]


def test_types_subjects_and_odd_payloads() -> None:
    repo_event = sample_payload(EventType.REPO_EVENT)
    assert event_type(repo_event) == "com.mirantis.msr.repo_created"
    manifest = json.loads(encode(CLOUDEVENTS, sample_payload(EventType.MANIFEST_PUSH), "x"))
    assert manifest["subject"].startswith("foo/bar@sha256:")
    scanner = json.loads(
        encode(CLOUDEVENTS, sample_payload(EventType.SCANNER_UPDATE_COMPLETED), "x")
    )
    assert scanner["source"] == "/" or scanner["source"].startswith("/")
    assert "subject" not in scanner
    bare = json.loads(encode(CLOUDEVENTS, {"type": "TAG_PUSH", "createdAt": "garbage"}, "x"))
    assert bare["source"] == "/" and bare["data"] == {}


def _sub(fmt: str, secret: str) -> Any:
    return SimpleNamespace(
        id="sub-" + fmt,
        inactive=False,
        endpoint="https://example.com/hook",
        tls_cert="",
        skip_tls_verification=False,
        secret=secret,
        previous_secret=None,
        previous_secret_expires_at=None,
        format=fmt,
        tls_client_sealed="sealed-" + fmt if fmt == CLOUDEVENTS else "",
    )


def test_jobs_of_one_event_in_both_formats_are_signed() -> None:
    payload = sample_payload(EventType.TAG_PUSH)
    secret = generate_secret()
    now = datetime.now(UTC)
    sources = [
        JobSource("d-" + fmt, 0, 7, WEBHOOK_ID, now, "sub-" + fmt, _sub(fmt, secret), payload)
        for fmt in (MSR, CLOUDEVENTS)
    ]
    msr, cloud = build_jobs("token", sources, now)
    assert msr.body == encode_body(payload)
    assert msr.headers["Content-Type"] == "application/json"
    assert json.loads(cloud.body)["id"] == WEBHOOK_ID
    assert cloud.headers["Content-Type"] == "application/cloudevents+json"
    for job in (msr, cloud):
        assert job.headers["webhook-id"] == WEBHOOK_ID
        Webhook(secret).verify(job.body, job.headers)
    assert (msr.tls_client_sealed, cloud.tls_client_sealed) == ("", "sealed-cloudevents")
    # A row without the new columns (an older reader) builds an MSR job.
    old = SimpleNamespace(**{k: v for k, v in vars(_sub(MSR, secret)).items() if k != "format"})
    [job] = build_jobs("t", [JobSource("d", 0, 8, WEBHOOK_ID, now, "s", old, payload)], now)
    assert job.body == encode_body(payload)
