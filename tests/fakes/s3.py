"""A local S3 server for tests and benchmarks: moto in server mode, as a subprocess on a free port.

Each user takes its own bucket (`new_bucket`), so tests sharing one server never see each other's
objects. The credentials are moto's: any key pair is accepted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.fakes.server import free_port

ACCESS_KEY = "dockyard-test"
SECRET_KEY = "dockyard-test-secret"
REGION = "us-east-1"


@dataclass
class S3Server:
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    buckets: list[str] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto exited early:\n{self.log_path.read_text()[-2000:]}")
            try:
                httpx.get(f"{self.endpoint}/moto-api/", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("moto did not start")

    def new_bucket(self) -> str:
        """A fresh, empty bucket (S3's REST API: PUT /<bucket>; moto skips signature checks)."""
        name = f"dockyard-{uuid.uuid4().hex[:16]}"
        response = httpx.put(f"{self.endpoint}/{name}", timeout=30)
        response.raise_for_status()
        self.buckets.append(name)
        return name

    def settings_env(self, bucket: str, prefix: str = "") -> dict[str, str]:
        """The DOCKYARD_* variables that point a server at `bucket`."""
        return {
            "DOCKYARD_STORAGE": "s3",
            "DOCKYARD_S3_ENDPOINT": self.endpoint,
            "DOCKYARD_S3_BUCKET": bucket,
            "DOCKYARD_S3_REGION": REGION,
            "DOCKYARD_S3_ACCESS_KEY_ID": ACCESS_KEY,
            "DOCKYARD_S3_SECRET_ACCESS_KEY": SECRET_KEY,
            "DOCKYARD_S3_PREFIX": prefix,
        }

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def start_s3(folder: Path) -> S3Server:
    server = S3Server(port=free_port(), log_path=folder / "moto.log")
    server.start()
    return server


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One local S3 server for the session (tests take their own buckets)."""
    server = start_s3(tmp_path_factory.mktemp("s3"))
    yield server
    server.stop()
