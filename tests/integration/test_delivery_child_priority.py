"""`dockyard serve` starts its delivery child at the niceness DOCKYARD_DELIVERY_NICE asks for
(pushes get a shared CPU first); the HTTP processes keep their own priority."""

from __future__ import annotations

import time

import psutil

from tests.conftest import ServerFactory


def _processes(pid: int) -> tuple[psutil.Process, list[psutil.Process]]:
    root = psutil.Process(pid)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = root.children(recursive=True)
        child = [p for p in children if "dockyard worker" in " ".join(p.cmdline())]
        if child:
            return child[0], [p for p in children if p not in child]
        time.sleep(0.1)
    raise AssertionError("no delivery child")


def test_the_delivery_child_runs_at_the_niceness_asked_for(server_factory: ServerFactory) -> None:
    srv = server_factory({"DOCKYARD_DELIVERY_NICE": "7"})
    assert srv.proc is not None
    child, others = _processes(srv.proc.pid)
    base = psutil.Process(srv.proc.pid).nice()
    assert child.nice() == min(19, base + 7)
    assert all(p.nice() == base for p in others)
