"""webhookTimeout in the delivery process: the follower task applies the stored value to the
transport (and back to the configured one when it is removed), and an attempt against a slow
receiver is cut off at the new limit rather than the configured one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dockyard.meta import service as meta
from dockyard.webhooks import worker as delivery_worker
from dockyard.webhooks.delivery import attempt
from dockyard.webhooks.retry import ErrorKind
from dockyard.webhooks.transport import Transport
from tests.fakes.inprocess import InProcess, inprocess_app
from tests.fakes.receiver import Receiver, Reply


@pytest.fixture
async def app(tmp_path: Path, database_url: str) -> AsyncIterator[InProcess]:
    async with inprocess_app(tmp_path / "data", database_url) as running:
        yield running


def transport() -> Transport:
    return Transport(
        blocked_networks="", concurrency=8, per_endpoint=2, connect_timeout=5, total_timeout=15
    )


async def until(predicate: object, seconds: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not predicate():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)


async def test_the_follower_applies_the_stored_timeout(
    app: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery_worker, "SETTINGS_SECONDS", 0.05)
    t = transport()
    follower = asyncio.create_task(delivery_worker.follow_webhook_timeout(app.services, t))
    try:
        async with app.services.session() as session:
            await meta.change(session, {"webhookTimeout": 0.5}, "admin")
            await session.commit()
        await until(lambda: t.timeout.total == 0.5)
        assert t.timeout.connect == 0.5  # the connect limit stays within the total
        async with app.services.session() as session:
            await meta.change(session, {"webhookTimeout": None}, "admin")
            await session.commit()
        await until(lambda: t.timeout.total == 15)
        assert t.timeout.connect == 5
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
        await t.close()


async def test_an_attempt_is_cut_at_the_changed_limit() -> None:
    t = transport()
    with Receiver() as rx:
        rx.default("/slow", Reply(200, delay=5))
        try:
            t.set_total_timeout(0.5)
            result = await attempt(
                t, rx.url("/slow"), b"{}", {}, tls_cert="", skip_tls_verification=False
            )
        finally:
            await t.close()
    assert result.error_kind is ErrorKind.TIMEOUT, result
    assert result.latency_ms < 4000
