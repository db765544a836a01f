"""Two delivery processes on one database: a slow endpoint's deliveries wait behind its
connection cap longer than a lease, and none is sent twice (the waiting ones' leases are
renewed, so the other process never claims them); every one arrives."""

from __future__ import annotations

import time

from tests.conftest import ServerFactory
from tests.fakes.receiver import Receiver, Reply
from tests.integration.delivery_helpers import (
    push_events,
    seed_repository,
    subscribe,
    worker_beside,
)

EVENTS = 120
# 120 deliveries at 0.15 s each, two at a time: the last ones wait about 9 s behind the cap,
# longer than the 6 s lease.
ENV = {
    "DOCKYARD_WEBHOOK_BLOCKED_NETWORKS": "",
    "DOCKYARD_WEBHOOK_LEASE_SECONDS": "6",
    "DOCKYARD_WEBHOOK_MAX_PER_ENDPOINT": "2",
    "DOCKYARD_WEBHOOK_RETRY_SCHEDULE": "600",
}


def test_two_delivery_processes_send_each_delivery_once(server_factory: ServerFactory) -> None:
    srv = server_factory(ENV)
    seed_repository(srv)
    # A second delivery process (`dockyard worker`) on the same database and data folder.
    with worker_beside(srv) as second, Receiver() as rx:
        rx.default("/slow", Reply(200, delay=0.15))
        with srv.client(auth=srv.admin_auth) as c:
            subscribe(c, rx.url("/slow"))
        push_events(srv, EVENTS)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if len({r.headers["webhook-id"] for r in rx.received("/slow")}) == EVENTS:
                break
            time.sleep(0.1)
        # Longer than a lease after the last one: a second send would have come by now.
        time.sleep(8)
        ids = [r.headers["webhook-id"] for r in rx.received("/slow")]
        assert len(set(ids)) == EVENTS
        assert len(ids) == EVENTS, f"{len(ids) - EVENTS} deliveries were sent twice"
        assert second.poll() is None, "the second delivery process exited"
