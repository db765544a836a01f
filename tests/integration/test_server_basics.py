"""The server starts with embedded defaults, answers health checks and refuses anonymous /v2."""

from __future__ import annotations

import contextlib
import os
import time

import psutil

from tests.conftest import ServerFactory
from tests.fakes.server import RunningServer


def test_health_and_ping(server: RunningServer) -> None:
    with server.client() as client:
        assert client.get("/health").json()["healthy"] is True
        assert client.get("/_ping").status_code == 200


def test_v2_requires_credentials(server: RunningServer) -> None:
    with server.client() as client:
        anonymous = client.get("/v2/")
        assert anonymous.status_code == 401
        assert "www-authenticate" in anonymous.headers
        assert anonymous.json()["errors"][0]["code"] == "UNAUTHORIZED"
        wrong = client.get("/v2/", auth=("admin", "wrong"))
        assert wrong.status_code == 401
        ok = client.get("/v2/", auth=server.admin_auth)
        assert ok.status_code == 200
        assert ok.headers["docker-distribution-api-version"] == "registry/2.0"


def test_default_server_starts_one_http_worker_per_cpu(server_factory: ServerFactory) -> None:
    """Test servers run one worker; this one runs what `make run` gives a user."""
    srv = server_factory(start=False)
    srv.unset_env = ("DOCKYARD_WORKERS",)
    srv.start()
    assert srv.proc is not None
    expected = len(os.sched_getaffinity(0))
    deadline = time.monotonic() + 30
    while True:
        tree = psutil.Process(srv.proc.pid).children(recursive=True)
        workers = [p for p in tree if _is_http_worker(p)]
        if len(workers) == expected or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(workers) == expected, [p.cmdline() for p in tree]
    with srv.client() as client:
        assert client.get("/v2/", auth=srv.admin_auth).status_code == 200


def _is_http_worker(proc: psutil.Process) -> bool:
    with contextlib.suppress(psutil.Error):
        # The server process execs into dockyard.serve_exec; its HTTP workers are children
        # running the same module (the delivery process runs `dockyard worker`).
        return "dockyard.serve_exec" in proc.cmdline()
    return False
