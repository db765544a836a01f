"""Several delivery processes (`DOCKYARD_DELIVERY_PROCESSES`): the supervisor starts one child
per process, numbered; each has its own liveness files and /health sees them all; the
dispatching process wakes the others' claims, and commits wake only the dispatcher."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from dockyard.config import Settings
from dockyard.webhooks import liveness, wake
from dockyard.webhooks.liveness import Heartbeat, SupervisorState, assess
from dockyard.webhooks.supervisor import (
    CHILD_NUMBER_ENV,
    DEFAULT_PROCESSES,
    WorkerSupervisor,
    delivery_processes,
)

NOW = 1_000_000.0


def env(**settings: object) -> dict[str, str]:
    return {"DOCKYARD_SETTINGS_JSON": json.dumps(settings)}


@pytest.mark.parametrize(
    ("given", "expected"),
    [(None, DEFAULT_PROCESSES), (1, 1), (3, 3), (0, DEFAULT_PROCESSES), (9, DEFAULT_PROCESSES)],
)
def test_how_many_processes_the_settings_ask_for(given: int | None, expected: int) -> None:
    assert delivery_processes(env(delivery_processes=given)) == expected


def test_the_setting_is_bounded() -> None:
    assert Settings(delivery_processes=3).delivery_processes == 3
    with pytest.raises(ValueError):
        Settings(delivery_processes=0)
    with pytest.raises(ValueError):
        Settings(delivery_processes=wake.MAX_LISTENERS + 1)


def test_one_numbered_child_per_process(tmp_path: Path) -> None:
    supervisor = WorkerSupervisor(tmp_path, env(delivery_processes=3, delivery_nice=7))
    numbers = [child.env[CHILD_NUMBER_ENV] for child in supervisor.children]
    assert numbers == ["0", "1", "2"]
    assert {child.nice for child in supervisor.children} == {7}
    # `dockyard worker` on its own is process 0 and supervises the others at its own priority.
    others = WorkerSupervisor(tmp_path, env(delivery_processes=3), first=1, nice=0)
    assert [child.number for child in others.children] == [1, 2]
    assert {child.nice for child in others.children} == {0}


def running(pid: int) -> SupervisorState:
    return SupervisorState(pid, NOW - 100, True, 0, 0, None)


def test_health_sees_every_process(tmp_path: Path) -> None:
    for number, pid in ((0, 10), (1, 11)):
        liveness.write_supervisor_state(tmp_path, running(pid), number)
        liveness.write_heartbeat(tmp_path, Heartbeat(pid, NOW - 1), number)
    # Process 0 keeps the files /health always read.
    assert (tmp_path / "run" / "delivery-supervisor.json").exists()
    assert (tmp_path / "run" / "delivery-heartbeat-1.json").exists()
    healthy = assess(tmp_path, in_process=False, timeout=30, now=NOW)
    assert healthy is not None
    assert healthy.problem == ""
    assert healthy.detail["processes"] == 2
    # Process 1 stops beating: the verdict says which process.
    liveness.write_heartbeat(tmp_path, Heartbeat(11, NOW - 100), 1)
    stale = assess(tmp_path, in_process=False, timeout=30, now=NOW)
    assert stale is not None
    assert stale.problem.startswith("delivery process 1: no heartbeat")
    liveness.clear(tmp_path)
    assert not list((tmp_path / "run").glob("*.json"))


def test_commits_wake_the_dispatcher_and_due_deliveries_the_claims(tmp_path: Path) -> None:
    async def go() -> None:
        dispatch0, claims0 = asyncio.Event(), asyncio.Event()
        claims1 = asyncio.Event()
        first = wake.listen(tmp_path, dispatch0, claims0)
        # A process that does not dispatch listens for due deliveries only.
        second = wake.listen(tmp_path, None, claims1)
        assert first is not None and second is not None
        try:
            wake.announce(tmp_path)
            await asyncio.wait_for(dispatch0.wait(), 10)
            announce_due = wake.DueAnnouncer(tmp_path)
            announce_due()
            announce_due.close()
            await asyncio.wait_for(claims1.wait(), 10)
            await asyncio.wait_for(claims0.wait(), 10)
        finally:
            wake.close(first)
            wake.close(second)

    asyncio.run(go())
