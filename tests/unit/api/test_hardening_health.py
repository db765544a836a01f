"""/health in this process: a write that failed for want of space makes it 503 ("disk") even
above the free-space threshold; the delivery check appears only where an engine is expected."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.storage import space
from dockyard.webhooks import liveness
from tests.fakes.inprocess import inprocess_app


@pytest.fixture(autouse=True)
def _forget() -> Iterator[None]:
    space.forget_write_failures()
    yield
    space.forget_write_failures()


async def test_a_disk_full_write_makes_health_unhealthy(tmp_path: Path, database_url: str) -> None:
    async with inprocess_app(tmp_path / "data", database_url) as running:
        healthy = await running.client.get("/health")
        assert healthy.status_code == 200, healthy.text
        assert "delivery" not in healthy.json()  # run_workers=false, no supervisor: not ours
        space.note_write_failure(OSError(errno.ENOSPC, "No space left on device"))
        answer = await running.client.get("/health")
    assert answer.status_code == 503
    body = answer.json()
    assert set(body["problems"]) == {"disk"}
    assert "No space left on device" in body["problems"]["disk"]
    assert body["error"].startswith("disk: ")


async def test_a_crash_looping_supervised_child_makes_health_unhealthy(
    tmp_path: Path, database_url: str
) -> None:
    data = tmp_path / "data"
    async with inprocess_app(data, database_url) as running:
        liveness.write_supervisor_state(
            data,
            liveness.SupervisorState(
                pid=None,
                started_at=0,
                running=False,
                restarts=4,
                failures_in_a_row=4,
                last_exit_code=3,
            ),
        )
        answer = await running.client.get("/health")
    assert answer.status_code == 503
    body = answer.json()
    assert set(body["problems"]) == {"delivery"}
    assert "exited 4 times in a row" in body["problems"]["delivery"]
    assert body["delivery"]["restarts"] == 4
