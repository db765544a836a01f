"""Liveness of the webhook delivery engine, kept as two small files in the data folder's `run/`.

Two writers, one reader. The delivery engine rewrites `run/delivery-heartbeat.json` every few
seconds after a cheap probe of its database; the supervisor in `dockyard serve` rewrites
`run/delivery-supervisor.json` with its child's pid, start time and restarts. `/health` reads
both and `assess` turns them into one verdict. With several delivery processes
(`DOCKYARD_DELIVERY_PROCESSES`) process n > 0 has its own pair (`delivery-heartbeat-n.json`,
`delivery-supervisor-n.json`) and the verdict is the first process's problem, else the first
other one's. Files rather than a table: the supervisor has no
database, a reader must stay cheap, and a full disk still lets an existing small file be read.
Stdlib only (the supervisor runs in `serve`'s small interpreter). No HTTP, no database here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

HEARTBEAT_FILE = "delivery-heartbeat.json"
SUPERVISOR_FILE = "delivery-supervisor.json"
# A child that ran at least this long before exiting was working: its exit starts a new count.
STABLE_AFTER = 60.0
# This many exits in a row (each after a short life) mean the engine is crash-looping.
FAILURES_UNHEALTHY = 3


def run_dir(data_dir: Path) -> Path:
    return data_dir / "run"


def file_name(name: str, number: int = 0) -> str:
    """The file of delivery process `number` (process 0 keeps the unnumbered names)."""
    if not number:
        return name
    stem, dot, ext = name.rpartition(".")
    return f"{stem}-{number}{dot}{ext}"


def heartbeat_interval(timeout: float) -> float:
    """How often to beat so that a healthy engine is never reported stale."""
    return max(0.2, min(5.0, timeout / 3))


def _write_json(path: Path, value: dict[str, Any]) -> None:
    # Atomic replace: a reader never sees half a file.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(value))
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


@dataclass(frozen=True)
class Heartbeat:
    pid: int
    at: float  # wall-clock seconds (time.time()): compared across processes
    error: str = ""


@dataclass(frozen=True)
class SupervisorState:
    pid: int | None  # the current child, None before the first start
    started_at: float  # wall clock of the current child's start
    running: bool
    restarts: int  # exits so far (each followed by a restart)
    failures_in_a_row: int
    last_exit_code: int | None = None


def write_heartbeat(data_dir: Path, heartbeat: Heartbeat, number: int = 0) -> None:
    _write_json(run_dir(data_dir) / file_name(HEARTBEAT_FILE, number), asdict(heartbeat))


def read_heartbeat(data_dir: Path, number: int = 0) -> Heartbeat | None:
    raw = _read_json(run_dir(data_dir) / file_name(HEARTBEAT_FILE, number))
    try:
        return None if raw is None else Heartbeat(**raw)
    except TypeError:
        return None


async def beat_forever(
    data_dir: Path, stale_after: float, probe: Callable[[], Awaitable[None]], number: int = 0
) -> None:
    """The engine's heartbeat until cancelled: probe the database, then record the result.

    It runs on the engine's event loop, so a blocked loop stops the heartbeat too."""
    interval = heartbeat_interval(stale_after)
    pid = os.getpid()
    while True:
        error = ""
        try:
            await asyncio.wait_for(probe(), stale_after)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
            log.warning("webhook.heartbeat.probe_failed", extra={"error": error})
        try:
            await asyncio.to_thread(
                write_heartbeat, data_dir, Heartbeat(pid, time.time(), error), number
            )
        except OSError as exc:
            # A full disk must not stop delivery; /health then sees the heartbeat go stale.
            log.warning("webhook.heartbeat.write_failed", extra={"error": str(exc)})
        await asyncio.sleep(interval)


def write_supervisor_state(data_dir: Path, state: SupervisorState, number: int = 0) -> None:
    _write_json(run_dir(data_dir) / file_name(SUPERVISOR_FILE, number), asdict(state))


def read_supervisor_state(data_dir: Path, number: int = 0) -> SupervisorState | None:
    raw = _read_json(run_dir(data_dir) / file_name(SUPERVISOR_FILE, number))
    try:
        return None if raw is None else SupervisorState(**raw)
    except TypeError:
        return None


def _numbered(data_dir: Path) -> list[int]:
    """The numbers > 0 of the delivery processes that have a supervisor file."""
    numbers: list[int] = []
    stem = SUPERVISOR_FILE.rpartition(".")[0]
    for path in run_dir(data_dir).glob(f"{stem}-*.json"):
        suffix = path.stem[len(stem) + 1 :]
        if suffix.isdigit() and int(suffix) > 0:
            numbers.append(int(suffix))
    return sorted(numbers)


def clear(data_dir: Path) -> None:
    """Forget a previous run's files (a SIGKILLed server leaves them behind)."""
    for number in [0, *_numbered(data_dir)]:
        for name in (HEARTBEAT_FILE, SUPERVISOR_FILE):
            with contextlib.suppress(OSError):
                (run_dir(data_dir) / file_name(name, number)).unlink()


@dataclass(frozen=True)
class Verdict:
    problem: str  # empty when healthy
    detail: dict[str, Any]


def assess(data_dir: Path, *, in_process: bool, timeout: float, now: float) -> Verdict | None:
    """The delivery engine's health, or None when no engine is expected to run here
    (`DOCKYARD_RUN_WORKERS=false`: a separate `dockyard worker` is watched on its own host).
    Several delivery processes: the first one's verdict, its detail counting `processes`, and
    the first problem of any of them."""
    first = _assess_one(data_dir, 0, in_process=in_process, timeout=timeout, now=now)
    others = _numbered(data_dir)
    if first is None or not others:
        return first
    problem = first.problem
    for number in others:
        verdict = _assess_one(data_dir, number, in_process=False, timeout=timeout, now=now)
        if not problem and verdict is not None and verdict.problem:
            problem = f"delivery process {number}: {verdict.problem}"
    return Verdict(problem, {**first.detail, "processes": 1 + len(others)})


def _assess_one(
    data_dir: Path, number: int, *, in_process: bool, timeout: float, now: float
) -> Verdict | None:
    state = read_supervisor_state(data_dir, number)
    beat = read_heartbeat(data_dir, number)
    if state is None:
        if not in_process:
            return None
        detail: dict[str, Any] = {"supervised": False}
        if beat is not None and beat.error:
            return Verdict(f"the delivery engine cannot use its database: {beat.error}", detail)
        if beat is not None and now - beat.at > timeout:
            return Verdict(
                f"no heartbeat from the delivery engine for {now - beat.at:.0f} s", detail
            )
        return Verdict("", detail)

    detail = {
        "supervised": True,
        "running": state.running,
        "restarts": state.restarts,
        "failuresInARow": state.failures_in_a_row,
        "lastExitCode": state.last_exit_code,
    }
    if state.pid is None and not state.restarts:
        # The supervisor is starting its first child: a problem only if that takes too long.
        if now - state.started_at > timeout:
            return Verdict(
                f"the delivery process has not started in {now - state.started_at:.0f} s", detail
            )
        return Verdict("", detail)
    current = beat if beat is not None and beat.pid == state.pid and state.running else None
    if current is not None and not current.error and now - current.at <= timeout:
        # The child that is running now beats: whatever happened before, it works again.
        return Verdict("", detail)
    if state.failures_in_a_row >= FAILURES_UNHEALTHY:
        return Verdict(
            f"the delivery process exited {state.failures_in_a_row} times in a row "
            f"(last exit code {state.last_exit_code}); it is being restarted",
            detail,
        )
    if current is not None and current.error:
        return Verdict(f"the delivery process cannot use its database: {current.error}", detail)
    if not state.running:
        # One exit and a restart pending: not yet a pattern.
        return Verdict("", detail)
    since = current.at if current is not None else state.started_at
    if now - since > timeout:
        return Verdict(
            f"no heartbeat from the delivery process (pid {state.pid}) for {now - since:.0f} s",
            detail,
        )
    return Verdict("", detail)
