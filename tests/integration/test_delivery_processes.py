"""`DOCKYARD_DELIVERY_PROCESSES=2`: `dockyard serve` supervises two delivery children, /health
watches both, a fan-out arrives once per subscription, and a killed second child is restarted
while the first keeps its pid; a lone `dockyard worker` runs the others as its children."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.conftest import ServerFactory
from tests.fakes.receiver import Receiver
from tests.fakes.server import RunningServer
from tests.integration.delivery_helpers import (
    push_events,
    seed_repository,
    subscribe,
    worker_beside,
)

SUBSCRIPTIONS = 30
EVENTS = 20
ENV = {"DOCKYARD_WEBHOOK_BLOCKED_NETWORKS": "", "DOCKYARD_DELIVERY_PROCESSES": "2"}
# How long a delivery child may take to start and beat on a loaded CI machine.
CHILD_START = 120.0


def wait_until(predicate: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def state(srv: RunningServer, number: int) -> dict[str, Any] | None:
    name = "delivery-supervisor.json" if number == 0 else f"delivery-supervisor-{number}.json"
    try:
        return dict(json.loads((srv.data_dir / "run" / name).read_text()))
    except (OSError, ValueError):
        return None


def running_pid(srv: RunningServer, number: int, other_than: int | None = None) -> int:
    def current() -> int | None:
        seen = state(srv, number)
        if seen and seen["running"] and seen["pid"] != other_than:
            return int(seen["pid"])
        return None

    return int(wait_until(current, CHILD_START))


def healthy_with_two(srv: RunningServer) -> bool:
    answer = httpx.get(f"{srv.url}/health", timeout=10)
    if answer.status_code != 200:
        return False
    return bool(answer.json().get("delivery", {}).get("processes") == 2)


def test_two_delivery_children_deliver_each_once(server_factory: ServerFactory) -> None:
    srv = server_factory(ENV)
    first, second = running_pid(srv, 0), running_pid(srv, 1)
    assert first != second
    wait_until(lambda: healthy_with_two(srv), CHILD_START)
    seed_repository(srv)
    with Receiver() as rx, srv.client(auth=srv.admin_auth) as c:
        # One path per subscription: what each path receives is that subscription's deliveries.
        paths = [f"/hook{i}" for i in range(SUBSCRIPTIONS)]
        for path in paths:
            subscribe(c, rx.url(path))
        push_events(srv, EVENTS)
        wait_until(lambda: all(len(rx.received(p)) >= EVENTS for p in paths), 120)
        for path in paths:
            ids = [r.headers["webhook-id"] for r in rx.received(path)]
            assert len(set(ids)) == EVENTS
            assert len(ids) == EVENTS, f"{path}: {len(ids) - EVENTS} deliveries sent twice"

    # The second child killed: restarted by the supervisor; the first is untouched.
    os.kill(second, signal.SIGKILL)
    restarted = running_pid(srv, 1, other_than=second)
    assert restarted != second
    assert state(srv, 0) is not None and running_pid(srv, 0) == first
    wait_until(lambda: healthy_with_two(srv), CHILD_START)


def test_a_lone_worker_runs_the_other_processes_as_its_children(
    server_factory: ServerFactory,
) -> None:
    # An HTTP-only server, and `dockyard worker` beside it asked for two delivery processes.
    srv = server_factory({**ENV, "DOCKYARD_RUN_WORKERS": "false"})
    seed_repository(srv)
    with worker_beside(srv):
        sibling = running_pid(srv, 1)
        # The worker itself is process 0: not supervised, so no file of its own.
        assert state(srv, 0) is None
        with Receiver() as rx, srv.client(auth=srv.admin_auth) as c:
            subscribe(c, rx.url("/hook"))
            push_events(srv, EVENTS)
            wait_until(lambda: len(rx.received("/hook")) >= EVENTS, 120)
            ids = [r.headers["webhook-id"] for r in rx.received("/hook")]
            assert len(set(ids)) == EVENTS
    # Stopping the worker (SIGTERM to it alone) stops its children.
    wait_until(lambda: not alive(sibling), 60)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie not yet reaped by its parent counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
