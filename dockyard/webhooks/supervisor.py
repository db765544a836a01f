"""`dockyard serve` runs the delivery engine in a child process it supervises.

Why a child: HTTP serving and delivery in one Python process share one GIL, so on a small
machine deliveries slow pushes down and the second core idles. The child is `dockyard worker`
(same settings through the environment); it is restarted if it exits, stopped when the server
stops, and on Linux killed by the kernel if the server dies (PR_SET_PDEATHSIG), so a SIGKILLed
server never leaves an orphan delivering. Leases make any overlap harmless (at-least-once).
No HTTP, no database here.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


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


class WorkerSupervisor:
    """Starts `python -m dockyard worker [--config F]`, restarts it when it exits, stops it."""

    def __init__(self, config: Path | None = None) -> None:
        self.args = [sys.executable, "-m", "dockyard", "worker"]
        if config is not None:
            self.args += ["--config", str(config)]
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        # The thread that starts the child must outlive it: PDEATHSIG follows the parent thread.
        self._thread = threading.Thread(target=self._run, name="webhook-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        linux = sys.platform.startswith("linux")
        return subprocess.Popen(
            self.args, env=dict(os.environ), preexec_fn=_die_with_parent if linux else None
        )

    def _run(self) -> None:
        backoff = 1.0
        while not self._stopping.is_set():
            started = time.monotonic()
            self._proc = self._spawn()
            code = self._proc.wait()
            if self._stopping.is_set():
                return
            if time.monotonic() - started > 60:
                backoff = 1.0
            log.error("webhook.worker.exited", extra={"code": code, "restart_in": backoff})
            if self._stopping.wait(backoff):
                return
            backoff = min(backoff * 2, 30.0)

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._thread.join(timeout)
