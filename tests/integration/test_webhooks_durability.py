"""At-least-once across SIGKILL: kill the server with hundreds of deliveries pending, restart
it, and every event still arrives."""

from __future__ import annotations

import time

from tests.conftest import ServerFactory
from tests.fakes import webhook_seed as seed
from tests.fakes.receiver import Receiver, Reply


def test_sigkill_with_500_pending_then_restart(server_factory: ServerFactory) -> None:
    srv = server_factory(
        {
            "DOCKYARD_WEBHOOK_BLOCKED_NETWORKS": "",
            "DOCKYARD_WEBHOOK_LEASE_SECONDS": "2",
            "DOCKYARD_WEBHOOK_MAX_PER_ENDPOINT": "4",
        }
    )
    seed.user(srv, "alice")
    seed.repo(srv, "alice", "web")
    with Receiver() as rx:
        rx.default("/slow", Reply(200, delay=0.02))
        with srv.client(auth=srv.admin_auth) as c:
            resp = c.post(
                "/api/v0/webhooks",
                json={"type": "TAG_PUSH", "key": "alice/web", "endpoint": rx.url("/slow")},
            )
            assert resp.status_code == 201
        seed.tag_push_events(srv, "alice", "web", 500)
        rx.wait_for(20, "/slow")
        srv.kill()
        before = {r.headers["webhook-id"] for r in rx.received("/slow")}
        assert len(before) < 500, "everything arrived before the kill; make the receiver slower"
        srv.start()
        deadline = time.monotonic() + 60
        ids: set[str] = set()
        while time.monotonic() < deadline:
            ids = {r.headers["webhook-id"] for r in rx.received("/slow")}
            if len(ids) == 500:
                break
            time.sleep(0.1)
        assert len(ids) == 500
