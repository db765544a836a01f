"""Helpers for the tests that run several delivery processes on one database: the repository
their events are about, a TAG_PUSH subscription of it to a receiver, and a `dockyard worker`
started beside a server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.fakes import webhook_seed as seed
from tests.fakes.server import RunningServer

NAMESPACE, REPOSITORY = "alice", "web"
# How long a worker may take to stop its delivery loop and its own children after SIGTERM.
WORKER_STOP = 60.0


def seed_repository(srv: RunningServer) -> None:
    """The user and the repository (alice/web) the subscriptions watch."""
    seed.user(srv, NAMESPACE)
    seed.repo(srv, NAMESPACE, REPOSITORY)


def push_events(srv: RunningServer, count: int) -> None:
    seed.tag_push_events(srv, NAMESPACE, REPOSITORY, count)


def subscribe(admin: httpx.Client, endpoint: str) -> None:
    """A TAG_PUSH subscription of alice/web sending to `endpoint`."""
    resp = admin.post(
        "/api/v0/webhooks",
        json={"type": "TAG_PUSH", "key": f"{NAMESPACE}/{REPOSITORY}", "endpoint": endpoint},
    )
    assert resp.status_code == 201, resp.text


@contextmanager
def worker_beside(srv: RunningServer) -> Iterator[subprocess.Popen[bytes]]:
    """`dockyard worker` on the server's database and data folder, stopped at the end by
    SIGTERM to it alone: stopping its own children is its job, which a test may check."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "dockyard", "worker"],
        env={**os.environ, **srv.env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # Its own process group, so a worker that will not stop goes with its children below.
        start_new_session=True,
    )
    try:
        yield worker
    finally:
        stopped = _stop(worker)
    # Not in `finally`: a failure of the test itself is the one to report.
    assert stopped, f"the worker did not stop within {WORKER_STOP:.0f} s of SIGTERM"


def _stop(worker: subprocess.Popen[bytes]) -> bool:
    """Whether it stopped on SIGTERM in time; if not, its process group is killed."""
    worker.terminate()
    try:
        worker.wait(WORKER_STOP)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        return False
    return True
