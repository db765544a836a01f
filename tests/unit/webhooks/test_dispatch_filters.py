"""The dispatcher applies a subscription's tagFilter and minSeverity: an event it does not hear
makes no delivery; subscriptions without filters hear everything, as before."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from dockyard.accounts.models import Account
from dockyard.clock import utcnow
from dockyard.db.engine import create_engine, create_sessionmaker
from dockyard.db.migrate import upgrade
from dockyard.events.models import OutboxEvent
from dockyard.webhooks.dispatch import dispatch_batch
from dockyard.webhooks.models import Delivery, Subscription

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
_LETTERS = {"critical": "C", "major": "M", "minor": "m"}


def _sub(name: str, event_type: str, **options: Any) -> Subscription:
    return Subscription(
        id=name,
        type=event_type,
        event_type=event_type,
        key="ns/repo",
        endpoint=f"http://example.test/{name}",
        author_id="a",
        secret=SECRET,
        **options,
    )


def _event(event_type: str, contents: dict[str, Any]) -> OutboxEvent:
    return OutboxEvent(
        type=event_type,
        repository_key="ns/repo",
        namespace_key="ns",
        payload={"type": event_type, "contents": contents},
        created_at=utcnow(),
    )


def _scan(tag: str, critical: int, major: int, minor: int) -> dict[str, Any]:
    return {"tag": tag, "scanSummary": {"critical": critical, "major": major, "minor": minor}}


async def _scenario(url: str) -> dict[str, list[str]]:
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    try:
        async with sessions() as session:
            session.add(Account(id="a", name="a", is_admin=True))
            session.add_all(
                [
                    _sub("all-tags", "TAG_PUSH"),
                    _sub("v-not-rc", "TAG_PUSH", tag_filter="v*,!*-rc*"),
                    _sub("any-scan", "SCAN_COMPLETED"),
                    _sub("major-scan", "SCAN_COMPLETED", min_severity="major"),
                    _sub("v-critical", "SCAN_COMPLETED", tag_filter="v*", min_severity="critical"),
                ]
            )
            await session.flush()
            for tag in ("latest", "v1-rc1", "v1"):
                session.add(_event("TAG_PUSH", {"tag": tag}))
            session.add(_event("SCAN_COMPLETED", _scan("v1", 0, 0, 3)))
            session.add(_event("SCAN_COMPLETED", _scan("v1", 0, 2, 0)))
            session.add(_event("SCAN_COMPLETED", _scan("latest", 1, 0, 0)))
            session.add(_event("SCAN_COMPLETED", _scan("v2", 1, 0, 0)))
            await session.commit()
        async with sessions() as session:
            await dispatch_batch(session, utcnow())
            await session.commit()
            rows = (
                await session.execute(
                    select(Delivery.subscription_id, OutboxEvent.payload)
                    .join(OutboxEvent, OutboxEvent.seq == Delivery.event_seq)
                    .order_by(Delivery.event_seq)
                )
            ).all()
    finally:
        await engine.dispose()
    heard: dict[str, list[str]] = {}
    for sub_id, payload in rows:
        contents = payload["contents"]
        summary = contents.get("scanSummary")
        label = contents["tag"]
        if summary:
            label += ":" + "".join(c for k, c in _LETTERS.items() if summary[k])
        heard.setdefault(sub_id, []).append(label)
    return heard


def test_dispatch_applies_the_filters(database_url: str) -> None:
    upgrade(database_url)
    heard = asyncio.run(_scenario(database_url))
    assert heard == {
        "all-tags": ["latest", "v1-rc1", "v1"],
        "v-not-rc": ["v1"],
        "any-scan": ["v1:m", "v1:M", "latest:C", "v2:C"],
        "major-scan": ["v1:M", "latest:C", "v2:C"],
        "v-critical": ["v2:C"],
    }
