"""Replay's selection (which retained events a subscription would have matched since a time), its
bounds (the retention period, the cap and where to resume, an inactive subscription), the
delivery log's attempt requests (kept by the record stage, shown by history), and the signed
test send's headers."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook

from dockyard.accounts.models import Account
from dockyard.clock import utcnow
from dockyard.db.engine import create_engine, create_sessionmaker
from dockyard.db.migrate import upgrade
from dockyard.errors import DockyardError, ErrorCode
from dockyard.events.models import OutboxEvent
from dockyard.webhooks import history, replay
from dockyard.webhooks.delivery import AttemptResult
from dockyard.webhooks.job import Job
from dockyard.webhooks.models import Delivery, DeliveryAttempt, Subscription
from dockyard.webhooks.record import summarize
from dockyard.webhooks.signing import generate_secret
from dockyard.webhooks.subscription_test import SendTarget, build_signed_test

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _event(
    type_: str, repo: str | None, ns: str | None, kind: str | None = None, tag: str = ""
) -> Any:
    contents = {"event": kind} if kind else {"tag": tag}
    return SimpleNamespace(
        type=type_, repository_key=repo, namespace_key=ns, payload={"contents": contents}
    )


def _sub(type_: str, key: str, repo_event_filter: str | None = None, tag_filter: str = "") -> Any:
    return SimpleNamespace(
        event_type=type_,
        key=key,
        repo_event_filter=repo_event_filter,
        tag_filter=tag_filter,
        min_severity=None,
    )


def test_matches_follows_the_dispatchers_rules() -> None:
    push = _event("TAG_PUSH", "ns/repo", "ns")
    assert replay.matches(_sub("TAG_PUSH", "ns/repo"), push)
    assert replay.matches(_sub("TAG_PUSH", ""), push)  # key-less: every repository
    assert not replay.matches(_sub("TAG_PUSH", "ns/other"), push)
    assert not replay.matches(_sub("TAG_PULL", "ns/repo"), push)
    created = _event("REPO_EVENT", "ns/app", "ns", kind="REPO_CREATED")
    assert replay.matches(_sub("REPO_EVENT", "ns"), created)
    assert replay.matches(_sub("REPO_EVENT", "ns", "REPO_CREATED"), created)
    assert not replay.matches(_sub("REPO_EVENT", "ns", "REPO_DELETED"), created)
    assert not replay.matches(_sub("REPO_EVENT", "other"), created)
    # The subscription's tagFilter, as at dispatch.
    release = _event("TAG_PUSH", "ns/repo", "ns", tag="v1.2")
    candidate = _event("TAG_PUSH", "ns/repo", "ns", tag="v1.3-rc1")
    only_releases = _sub("TAG_PUSH", "ns/repo", tag_filter="v*,!*-rc*")
    assert replay.matches(only_releases, release)
    assert not replay.matches(only_releases, candidate)


def test_since_must_lie_within_the_event_retention() -> None:
    now = utcnow()
    replay.check_since(now - timedelta(days=6), now, 7)
    with pytest.raises(DockyardError) as caught:
        replay.check_since(now - timedelta(days=8), now, 7)
    assert caught.value.code is ErrorCode.INVALID_PARAMETERS
    assert caught.value.status == 400
    assert caught.value.detail["field"] == "since"
    assert "retention" in caught.value.message
    # 0 days: events are kept forever, any time is within reach.
    replay.check_since(now - timedelta(days=3650), now, 0)


def test_an_inactive_subscription_is_not_replayed_to() -> None:
    with pytest.raises(DockyardError) as caught:
        replay.check_active(SimpleNamespace(inactive=True, id="x"))  # type: ignore[arg-type]
    assert caught.value.status == 400


async def _replay_scenario(url: str) -> None:
    upgrade(url)
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    now = utcnow()
    since = now - timedelta(hours=1)
    try:
        async with sessions() as session:
            session.add(Account(id="a", name="a", is_admin=True))
            sub = Subscription(
                type="TAG_PUSH",
                event_type="TAG_PUSH",
                key="ns/repo",
                endpoint="http://example.test/hook",
                author_id="a",
                secret=SECRET,
            )
            session.add(sub)

            def add(type_: str, repo: str, minutes_ago: float, dispatched: bool = True) -> None:
                at = now - timedelta(minutes=minutes_ago)
                session.add(
                    OutboxEvent(
                        type=type_,
                        repository_key=repo,
                        namespace_key=repo.split("/")[0],
                        payload={"type": type_, "contents": {"tag": f"t{minutes_ago}"}},
                        created_at=at,
                        dispatched_at=at if dispatched else None,
                    )
                )

            add("TAG_PUSH", "ns/repo", 90)  # before since
            add("TAG_PUSH", "ns/repo", 30)  # wanted
            add("TAG_PULL", "ns/repo", 25)  # another type
            add("TAG_PUSH", "ns/other", 20)  # another repository
            add("TAG_PUSH", "ns/repo", 10)  # wanted
            add("TAG_PUSH", "ns/repo", 1, dispatched=False)  # the dispatcher's, not replay's
            await session.commit()
            sub_id = sub.id

        async with sessions() as session:
            sub = await session.get(Subscription, sub_id)
            assert sub is not None
            done = await replay.replay(session, sub, since, now)
            await session.commit()
        assert done == replay.ReplayResult(2)
        async with sessions() as session:
            made = (await session.scalars(select(Delivery).order_by(Delivery.event_seq))).all()
            events = {e.seq: e for e in (await session.scalars(select(OutboxEvent))).all()}
        assert len(made) == 2
        for d in made:
            event = events[d.event_seq]
            assert d.replay and d.status == "pending" and d.attempts == 0
            assert d.next_attempt_at == now and d.subscription_id == sub_id
            # The same message: the event's webhook-id and creation time.
            assert (d.event_id, d.event_created_at) == (event.id, event.created_at)
            assert event.payload["contents"]["tag"] in ("t30", "t10")

        # The cap: one queued, and where to resume (the next matching event's time).
        async with sessions() as session:
            sub = await session.get(Subscription, sub_id)
            assert sub is not None
            capped = await replay.replay(session, sub, since, now, limit=1)
            await session.rollback()
        assert capped.queued == 1
        assert capped.next_since == now - timedelta(minutes=10)

        # A namespace's subscription and a key-less one (a registry admin's).
        async with sessions() as session:
            for ns in ("ns", "zz"):
                session.add(
                    OutboxEvent(
                        type="REPO_EVENT",
                        repository_key=f"{ns}/app",
                        namespace_key=ns,
                        payload={"contents": {"event": "REPO_CREATED"}},
                        created_at=now,
                        dispatched_at=now,
                    )
                )
            on_ns = Subscription(
                type="REPO_EVENT",
                event_type="REPO_EVENT",
                key="ns",
                endpoint="http://example.test/ns",
                author_id="a",
                secret=SECRET,
            )
            everywhere = Subscription(
                type="TAG_PUSH",
                event_type="TAG_PUSH",
                key="",
                endpoint="http://example.test/all",
                author_id="a",
                secret=SECRET,
            )
            session.add_all([on_ns, everywhere])
            await session.flush()
            assert (await replay.replay(session, on_ns, since, now)).queued == 1
            # Every dispatched TAG_PUSH since: ns/repo twice and ns/other once.
            assert (await replay.replay(session, everywhere, since, now)).queued == 3
            await session.rollback()
    finally:
        await engine.dispose()


def test_replay_queues_the_matching_retained_events_as_replays(database_url: str) -> None:
    asyncio.run(_replay_scenario(database_url))


def test_replay_reads_the_outbox_in_batches(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One event per read and per insert: the same deliveries, the same place to resume.
    monkeypatch.setattr(replay, "BATCH", 1)
    asyncio.run(_replay_scenario(database_url))


def test_the_record_stage_keeps_each_attempts_request() -> None:
    now = utcnow()
    headers = {"Content-Type": "application/json", "webhook-id": "e1", "webhook-signature": "v1,x"}
    job = Job("d1", "tok", 0, now, "s1", "http://r.test/", "", False, b'{"a":"\xc3\xa9"}', headers)
    out = summarize([(job, AttemptResult(200, None, "", 1.0, "ok"), now)], [10.0], now)
    [row] = out.attempts
    assert row["request_headers"] == headers
    assert row["request_body"] == '{"a":"é"}'
    shown = history.attempt_wire(
        DeliveryAttempt(
            attempted_at=now,
            status_code=200,
            latency_ms=1.0,
            outcome="delivered",
            error="",
            response_excerpt="ok",
            request_headers=row["request_headers"],
            request_body=row["request_body"],
        )
    )
    assert shown.request is not None and shown.request.headers == headers
    assert shown.request.body == '{"a":"é"}'
    old = history.attempt_wire(
        DeliveryAttempt(
            attempted_at=now,
            status_code=500,
            latency_ms=1.0,
            outcome="retry",
            error="",
            response_excerpt="",
        )
    )
    assert old.request is None


def test_a_subscription_test_is_signed_with_every_secret_in_use() -> None:
    now = utcnow()
    previous = generate_secret()
    target = SendTarget(
        event_type="REPO_EVENT",
        repo_event_filter="REPO_DELETED",
        endpoint="http://r.test/",
        tls_cert="",
        skip_tls_verification=False,
        secret=SECRET,
        previous_secret=previous,
        previous_secret_expires_at=now + timedelta(hours=1),
    )
    test = build_signed_test(target, now)
    assert test.headers["webhook-id"].startswith("test-")
    assert test.headers["Content-Type"] == "application/json"
    # Either secret verifies it while the rotation overlaps, as for a real delivery.
    for secret in (SECRET, previous):
        payload = Webhook(secret).verify(test.body, test.headers)
        assert payload["type"] == "REPO_EVENT"
        assert payload["contents"]["event"] == "REPO_DELETED"
    with pytest.raises(Exception, match="signature"):
        Webhook(generate_secret()).verify(test.body, test.headers)
    expired = build_signed_test(
        SendTarget(**{**target.__dict__, "previous_secret_expires_at": now}), now
    )
    assert len(expired.headers["webhook-signature"].split(" ")) == 1


def test_a_cloudevents_subscriptions_test_is_a_signed_cloudevent() -> None:
    now = utcnow()
    target = SendTarget(
        event_type="TAG_PUSH",
        repo_event_filter=None,
        endpoint="http://r.test/",
        tls_cert="",
        skip_tls_verification=False,
        secret=SECRET,
        previous_secret=None,
        previous_secret_expires_at=None,
        format="cloudevents",
    )
    test = build_signed_test(target, now)
    assert test.headers["Content-Type"] == "application/cloudevents+json"
    event = Webhook(SECRET).verify(test.body, test.headers)
    assert event["specversion"] == "1.0" and event["id"] == test.headers["webhook-id"]
    assert event["data"]["tag"] == "latest"
