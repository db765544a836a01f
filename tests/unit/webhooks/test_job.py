"""The one job builder: a body encoded once per event, signed with every secret in use, and a
delivery whose subscription is gone or inactive (or whose author lost access) not sent."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from dockyard.clock import utcnow
from dockyard.webhooks.job import INACTIVE, JobSource, build_jobs
from dockyard.webhooks.outbound import encode_body

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OLD = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"


def _sub(**extra: object) -> SimpleNamespace:
    fields: dict[str, object] = {
        "id": "s",
        "inactive": False,
        "endpoint": "https://receiver.test/hook",
        "tls_cert": "",
        "skip_tls_verification": False,
        "secret": SECRET,
        "previous_secret": None,
        "previous_secret_expires_at": None,
    }
    fields.update(extra)
    return SimpleNamespace(**fields)


def _source(delivery_id: str, sub: object, seq: int = 1, **extra: str) -> JobSource:
    return JobSource(
        delivery_id=delivery_id,
        attempts=0,
        event_seq=seq,
        event_id=f"event-{seq}",
        event_created_at=utcnow(),
        subscription_id="s",
        subscription=sub,
        payload={"type": "TAG_PUSH", "seq": seq, "name": "é"},
        **extra,
    )


def test_jobs_share_a_body_per_event_and_are_signed() -> None:
    now = utcnow()
    rotated = _sub(previous_secret=OLD, previous_secret_expires_at=now + timedelta(hours=1))
    a, b, c = build_jobs(
        "tok", [_source("a", _sub()), _source("b", rotated), _source("c", _sub(), 2)], now
    )
    assert a.body is b.body and a.body == encode_body({"type": "TAG_PUSH", "seq": 1, "name": "é"})
    assert c.body != a.body
    assert a.headers["Content-Type"] == "application/json" and a.headers["webhook-id"] == "event-1"
    assert len(a.headers["webhook-signature"].split()) == 1
    assert len(b.headers["webhook-signature"].split()) == 2  # both secrets while they overlap
    assert (a.token, a.endpoint, a.skip_reason) == ("tok", "https://receiver.test/hook", "")


def test_jobs_not_to_send_carry_their_reason() -> None:
    now = utcnow()
    gone, inactive, lost = build_jobs(
        "tok",
        [
            _source("gone", None),
            _source("inactive", _sub(inactive=True)),
            _source("lost", _sub(), skip_reason="The author x is deactivated."),
        ],
        now,
    )
    assert gone.skip_reason == INACTIVE and gone.subscription_id == "s"
    assert inactive.skip_reason == INACTIVE and not inactive.endpoint
    assert lost.skip_reason == "The author x is deactivated."
