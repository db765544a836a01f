"""Start the real `dockyard serve` as a subprocess on a free port, and stop or kill it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ADMIN_PASSWORD = "admin-password-for-tests"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    data_dir: Path
    database_url: str
    port: int
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    admin_password: str = ADMIN_PASSWORD
    extra_args: list[str] = field(default_factory=list)
    # Variables removed from the server's environment, so the registry's own default applies.
    unset_env: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        """The registry host as image references carry it."""
        return f"127.0.0.1:{self.port}"

    @property
    def admin_auth(self) -> tuple[str, str]:
        return ("admin", self.admin_password)

    def client(self, auth: tuple[str, str] | None = None, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, auth=auth, timeout=30, **kwargs)  # type: ignore[arg-type]

    def start(self, timeout: float = 120.0) -> None:
        env = {**os.environ, **self.env}
        for name in self.unset_env:
            env.pop(name, None)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dockyard", "serve", *self.extra_args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockyard exited early:\n{self.log_path.read_text()[-4000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        # Never leave a half-started server (and its delivery child) behind for later tests.
        self.kill()
        raise RuntimeError(f"dockyard did not start:\n{self.log_path.read_text()[-4000:]}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the whole process group: a crash, not a shutdown."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(15)

    def restart(self) -> None:
        self.stop()
        self.start()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")


def make_server(tmp: Path, database_url: str, env: dict[str, str] | None = None) -> RunningServer:
    port = free_port()
    data_dir = tmp / "data"
    base_env = {
        "DOCKYARD_DATA_DIR": str(data_dir),
        "DOCKYARD_PORT": str(port),
        "DOCKYARD_HOST": "127.0.0.1",
        "DOCKYARD_DATABASE_URL": database_url,
        "DOCKYARD_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "DOCKYARD_LOG_LEVEL": "INFO",
        # One HTTP worker per test server keeps the suite within its time on 2 cores; the
        # default (one per CPU) is started by test_server_basics' worker-count test.
        "DOCKYARD_WORKERS": "1",
        # The delivery child at the HTTP workers' priority: many tests seed events and subscribe
        # right after, on a machine other suites load too (the benchmarks set the default).
        "DOCKYARD_DELIVERY_NICE": "0",
    }
    base_env.update(env or {})
    return RunningServer(
        data_dir=data_dir,
        database_url=database_url,
        port=port,
        env=base_env,
        log_path=tmp / "server.log",
    )
