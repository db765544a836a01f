"""The delivery engine's liveness verdict, from the supervisor's and the heartbeat's files."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from dockyard.webhooks import liveness
from dockyard.webhooks.liveness import Heartbeat, SupervisorState, assess

NOW = 1_000_000.0
TIMEOUT = 30.0


def state(**changes: object) -> SupervisorState:
    base: dict[str, object] = {
        "pid": 42,
        "started_at": NOW - 100,
        "running": True,
        "restarts": 0,
        "failures_in_a_row": 0,
        "last_exit_code": None,
    }
    base.update(changes)
    return SupervisorState(**base)  # type: ignore[arg-type]


def verdict(data_dir: Path, in_process: bool = False) -> liveness.Verdict | None:
    return assess(data_dir, in_process=in_process, timeout=TIMEOUT, now=NOW)


def test_nothing_expected_without_a_supervisor_or_in_process_engine(tmp_path: Path) -> None:
    assert verdict(tmp_path) is None
    liveness.write_heartbeat(tmp_path, Heartbeat(7, NOW - 10_000))
    assert verdict(tmp_path) is None


def test_supervised_child_beating_is_healthy(tmp_path: Path) -> None:
    liveness.write_supervisor_state(tmp_path, state(restarts=5, failures_in_a_row=4))
    liveness.write_heartbeat(tmp_path, Heartbeat(42, NOW - 2))
    result = verdict(tmp_path)
    assert result is not None and result.problem == ""
    assert result.detail["restarts"] == 5 and result.detail["supervised"] is True


def test_just_started_child_has_until_the_timeout_to_beat(tmp_path: Path) -> None:
    liveness.write_supervisor_state(tmp_path, state(started_at=NOW - 5))
    result = verdict(tmp_path)
    assert result is not None and result.problem == ""
    liveness.write_supervisor_state(tmp_path, state(started_at=NOW - 31))
    result = verdict(tmp_path)
    assert result is not None and "no heartbeat" in result.problem and "pid 42" in result.problem


def test_a_supervisor_starting_its_first_child_says_so_until_the_timeout(tmp_path: Path) -> None:
    # The supervisor records itself before its first child exists (pid None): /health shows a
    # supervised engine at once, and one whose child never starts is a problem after the timeout.
    liveness.write_supervisor_state(tmp_path, state(pid=None, running=False, started_at=NOW - 5))
    result = verdict(tmp_path)
    assert result is not None and result.problem == ""
    assert result.detail["supervised"] is True and result.detail["running"] is False
    liveness.write_supervisor_state(tmp_path, state(pid=None, running=False, started_at=NOW - 31))
    result = verdict(tmp_path)
    assert result is not None and "has not started in 31 s" in result.problem


def test_the_supervisor_records_itself_before_its_child_starts(tmp_path: Path) -> None:
    from dockyard.webhooks.supervisor import WorkerSupervisor

    # A child that cannot start: the state written by start() is what /health reads meanwhile.
    supervisor = WorkerSupervisor(tmp_path, {"PATH": ""}, processes=1)
    started = liveness.read_supervisor_state(tmp_path)
    assert started is None
    supervisor.children[0]._thread = _NeverRuns()  # type: ignore[assignment]
    supervisor.start()
    recorded = liveness.read_supervisor_state(tmp_path)
    assert recorded is not None and recorded.pid is None and recorded.running is False


class _NeverRuns:
    def start(self) -> None:
        pass


def test_stale_heartbeat_or_one_of_an_earlier_child(tmp_path: Path) -> None:
    liveness.write_supervisor_state(tmp_path, state())
    liveness.write_heartbeat(tmp_path, Heartbeat(42, NOW - 31))
    result = verdict(tmp_path)
    assert result is not None and "no heartbeat" in result.problem
    # A fresh beat from a previous child does not vouch for the current one.
    liveness.write_heartbeat(tmp_path, Heartbeat(41, NOW - 1))
    result = verdict(tmp_path)
    assert result is not None and "no heartbeat" in result.problem


def test_crash_loop_is_unhealthy_until_a_child_beats(tmp_path: Path) -> None:
    liveness.write_supervisor_state(
        tmp_path, state(running=False, restarts=3, failures_in_a_row=3, last_exit_code=1)
    )
    result = verdict(tmp_path)
    assert result is not None
    assert "exited 3 times in a row" in result.problem and "exit code 1" in result.problem
    # One exit, restart pending: not a pattern yet.
    liveness.write_supervisor_state(tmp_path, state(running=False, failures_in_a_row=1))
    result = verdict(tmp_path)
    assert result is not None and result.problem == ""


def test_probe_error_is_reported(tmp_path: Path) -> None:
    liveness.write_supervisor_state(tmp_path, state())
    liveness.write_heartbeat(tmp_path, Heartbeat(42, NOW - 1, "OperationalError: no such table"))
    result = verdict(tmp_path)
    assert result is not None and "no such table" in result.problem
    liveness.clear(tmp_path)
    liveness.write_heartbeat(tmp_path, Heartbeat(42, NOW - 1, "OperationalError: locked"))
    result = verdict(tmp_path, in_process=True)
    assert result is not None and "locked" in result.problem


def test_in_process_engine(tmp_path: Path) -> None:
    result = verdict(tmp_path, in_process=True)
    assert result is not None and result.problem == ""
    liveness.write_heartbeat(tmp_path, Heartbeat(1, NOW - 60))
    result = verdict(tmp_path, in_process=True)
    assert result is not None and "no heartbeat" in result.problem


def test_garbage_files_read_as_missing(tmp_path: Path) -> None:
    run = liveness.run_dir(tmp_path)
    run.mkdir()
    (run / liveness.SUPERVISOR_FILE).write_text("{not json")
    (run / liveness.HEARTBEAT_FILE).write_text('{"unexpected": 1}')
    assert liveness.read_supervisor_state(tmp_path) is None
    assert liveness.read_heartbeat(tmp_path) is None


@pytest.mark.parametrize(("timeout", "interval"), [(30.0, 5.0), (1.5, 0.5), (0.1, 0.2)])
def test_heartbeat_interval_stays_under_the_timeout(timeout: float, interval: float) -> None:
    assert liveness.heartbeat_interval(timeout) == pytest.approx(interval)


async def test_beat_forever_records_probe_results(tmp_path: Path) -> None:
    calls = 0

    async def probe() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database is down")

    task = asyncio.create_task(liveness.beat_forever(tmp_path, 0.6, probe))
    try:
        first = await _wait_for_beat(tmp_path, lambda b: b.error != "")
        assert first.pid == os.getpid() and "database is down" in first.error
        await _wait_for_beat(tmp_path, lambda b: b.error == "")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _wait_for_beat(tmp_path: Path, ok: object) -> Heartbeat:
    for _ in range(200):
        beat = liveness.read_heartbeat(tmp_path)
        if beat is not None and ok(beat):  # type: ignore[operator]
            return beat
        await asyncio.sleep(0.02)
    raise AssertionError("no such heartbeat")
