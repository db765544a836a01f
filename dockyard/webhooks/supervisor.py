"""`dockyard serve` runs the delivery engine in a child process it supervises.

Why a child: HTTP serving and delivery in one Python process share one GIL, so on a small
machine deliveries slow pushes down and the second core idles. The child is `dockyard worker`
(the serve's own settings, passed whole through the environment, so `--data-dir`, `--config`
and the rest reach it); it is restarted if it exits, stopped when the server stops, and on Linux
killed by the kernel if the server dies (PR_SET_PDEATHSIG), so a SIGKILLed server never leaves an
orphan delivering. Leases make any overlap harmless (at-least-once). The child runs at a lower
CPU priority (`DOCKYARD_DELIVERY_NICE`, 10 by default): on a machine it shares with the HTTP
workers, a push gets the CPU first and delivery uses what is left. Its pid, start time and
restarts go to a small file that `/health` reads (`liveness.py`). No HTTP, no database here.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from dockyard.webhooks import liveness

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


# The child's niceness unless the settings say otherwise (`delivery_nice`).
DEFAULT_NICE = 10
# Delivery processes unless the settings say otherwise (`delivery_processes`).
DEFAULT_PROCESSES = 1
# Which delivery process a child is (0: the one that also dispatches and runs the consumers).
CHILD_NUMBER_ENV = "DOCKYARD_DELIVERY_CHILD"


def _die_with_parent_call() -> Callable[[], object] | None:
    """prctl(PR_SET_PDEATHSIG, SIGKILL), resolved here in the parent: loading libc between fork
    and exec can deadlock the child on the dynamic loader's lock when another thread (the
    server's imports) held it at the fork, and the supervisor would then wait for it forever."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return functools.partial(libc.prctl, _PR_SET_PDEATHSIG, signal.SIGKILL)
    except Exception:
        return None


def child_nice(env: Mapping[str, str]) -> int:
    """The niceness the child asks for: `delivery_nice` of the settings it is given."""
    try:
        value = json.loads(env.get("DOCKYARD_SETTINGS_JSON", "{}")).get("delivery_nice")
    except (ValueError, AttributeError):
        value = None
    return value if isinstance(value, int) and 0 <= value <= 19 else DEFAULT_NICE


def delivery_processes(env: Mapping[str, str]) -> int:
    """How many delivery processes to run: `delivery_processes` of the settings given."""
    try:
        value = json.loads(env.get("DOCKYARD_SETTINGS_JSON", "{}")).get("delivery_processes")
    except (ValueError, AttributeError):
        value = None
    return value if isinstance(value, int) and 1 <= value <= 8 else DEFAULT_PROCESSES


def _prepare_child(
    nice: int, die_with_parent: Callable[[], object] | None
) -> None:  # pragma: no cover - in the child
    if die_with_parent is not None:
        with contextlib.suppress(Exception):
            die_with_parent()
    with contextlib.suppress(OSError):
        os.nice(nice)


def metrics_dir(data_dir: Path) -> Path:
    """Where the server and its child share Prometheus counters (multiprocess mode)."""
    return data_dir / "run" / "metrics"


def prepare_metrics_dir(data_dir: Path) -> Path:
    """An empty folder for this run's counters; set before prometheus_client is imported."""
    folder = metrics_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink(missing_ok=True)
    return folder


class _Child:
    """One delivery process: started, restarted when it exits, stopped."""

    def __init__(
        self, args: list[str], data_dir: Path, env: Mapping[str, str], number: int, nice: int
    ):
        self.args = args
        self.data_dir = data_dir
        self.number = number
        self.nice = nice
        self.env = {**env, CHILD_NUMBER_ENV: str(number)}
        self.restarts = 0
        self.failures_in_a_row = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        # The thread that starts the child must outlive it: PDEATHSIG follows the parent thread.
        name = "webhook-worker" if not number else f"webhook-worker-{number}"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        # Recorded before the thread runs: a /health answered while the child is being started
        # says a supervised child is on its way (and, if it never starts, that it did not).
        self._write(
            liveness.SupervisorState(
                pid=None, started_at=time.time(), running=False, restarts=0, failures_in_a_row=0
            )
        )
        self._thread.start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        die = _die_with_parent_call() if sys.platform.startswith("linux") else None
        prepare = functools.partial(_prepare_child, self.nice, die)
        return subprocess.Popen(self.args, env=self.env, preexec_fn=prepare)

    def _record(self, proc: subprocess.Popen[bytes], started_at: float, running: bool) -> None:
        state = liveness.SupervisorState(
            pid=proc.pid,
            started_at=started_at,
            running=running,
            restarts=self.restarts,
            failures_in_a_row=self.failures_in_a_row,
            last_exit_code=None if running else proc.returncode,
        )
        self._write(state)

    def _write(self, state: liveness.SupervisorState) -> None:
        try:
            liveness.write_supervisor_state(self.data_dir, state, self.number)
        except OSError as exc:
            # A full disk must not stop the supervisor; /health then sees the heartbeat go stale.
            log.warning("webhook.worker.state_unwritable", extra={"error": str(exc)})

    def _run(self) -> None:
        backoff = 1.0
        while not self._stopping.is_set():
            started = time.monotonic()
            started_at = time.time()
            proc = self._proc = self._spawn()
            self._record(proc, started_at, running=True)
            code = proc.wait()
            if self._stopping.is_set():
                return
            if time.monotonic() - started > liveness.STABLE_AFTER:
                backoff = 1.0
                self.failures_in_a_row = 0
            self.failures_in_a_row += 1
            self.restarts += 1
            self._record(proc, started_at, running=False)
            log.error(
                "webhook.worker.exited",
                extra={
                    "code": code,
                    "delivery_process": self.number,
                    "restart_in": backoff,
                    "restarts": self.restarts,
                    "failures_in_a_row": self.failures_in_a_row,
                },
            )
            if self._stopping.wait(backoff):
                return
            backoff = min(backoff * 2, 30.0)

    def signal_stop(self) -> None:
        self._stopping.set()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()

    def stop(self, timeout: float) -> None:
        self.signal_stop()
        proc = self._proc
        if proc is not None:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._thread.join(timeout)


class WorkerSupervisor:
    """Starts `python -P -m dockyard worker` once per delivery process (`delivery_processes`
    of the settings, numbered `first`, `first + 1`, ...), restarts each when it exits, stops
    them all."""

    def __init__(
        self,
        data_dir: Path,
        env: Mapping[str, str] | None = None,
        *,
        first: int = 0,
        processes: int | None = None,
        nice: int | None = None,
    ) -> None:
        """`nice`: added to this process's niceness in each child (default: `delivery_nice`
        of the settings; 0 for a lone worker's siblings, which run at its own priority)."""
        # -P: the working folder stays off sys.path, so a `dockyard/` folder there (a clone of
        # this repository, say) cannot shadow the installed package in the child.
        self.args = [sys.executable, "-P", "-m", "dockyard", "worker"]
        self.data_dir = data_dir
        self.env = dict(os.environ if env is None else env)
        count = delivery_processes(self.env) if processes is None else processes
        increment = child_nice(self.env) if nice is None else nice
        self.children = [
            _Child(self.args, data_dir, self.env, number, increment)
            for number in range(first, count)
        ]

    @property
    def restarts(self) -> int:
        return sum(child.restarts for child in self.children)

    def start(self) -> None:
        for child in self.children:
            child.start()

    def stop(self, timeout: float = 10.0) -> None:
        # All asked at once, then waited for: they record and release their leases together.
        for child in self.children:
            child.signal_stop()
        for child in self.children:
            child.stop(timeout)
