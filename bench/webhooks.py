"""Webhook delivery benchmark (not a test): prints deliveries/s and commit->receipt latency.

(a) one push fanned out to 1,000 subscriptions; (b) 5,000 events to 10 subscriptions;
(c) push latency (manifest PUT) with 0 and with 1,000 subscriptions, as a ratio.
A fast asyncio receiver runs in its own process. Run: .venv/bin/python bench/webhooks.py
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import re
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakes import webhook_seed as seed
from tests.fakes.databases import create_database
from tests.fakes.server import free_port, make_server
from tests.integration.accounts_helpers import push_image

CREATED = re.compile(rb'"createdAt":"([^"]+)"')


def receiver_main(port: int) -> None:
    """Minimal keep-alive HTTP/1.1 server: 200 to every POST, records receipt latency."""
    latencies: list[float] = []
    count = 0

    class Proto(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.t = transport
            self.buf = b""

        def data_received(self, data: bytes) -> None:
            nonlocal count
            self.buf += data
            while True:
                head_end = self.buf.find(b"\r\n\r\n")
                if head_end < 0:
                    return
                head = self.buf[:head_end].lower()
                m = re.search(rb"content-length: *(\d+)", head)
                length = int(m.group(1)) if m else 0
                if len(self.buf) < head_end + 4 + length:
                    return
                body = self.buf[head_end + 4 : head_end + 4 + length]
                self.buf = self.buf[head_end + 4 + length :]
                if head.startswith(b"get /stats"):
                    out = json.dumps({"count": count, "latencies": latencies}).encode()
                    self.t.write(
                        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(out), out)
                    )
                    continue
                if head.startswith(b"post /reset"):
                    count = 0
                    latencies.clear()
                else:
                    now = time.time()
                    c = CREATED.search(body)
                    if c:
                        created = datetime.fromisoformat(c.group(1).decode().replace("Z", "+00:00"))
                        latencies.append(now - created.timestamp())
                    count += 1
                self.t.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Proto, "127.0.0.1", port, backlog=1024)
        await server.serve_forever()

    asyncio.run(main())


def stats(port: int) -> dict[str, Any]:
    return dict(httpx.get(f"http://127.0.0.1:{port}/stats", timeout=30).json())


def wait_count(port: int, n: int, timeout: float = 300) -> tuple[float, dict[str, Any]]:
    start = time.monotonic()
    while True:
        s = stats(port)
        if s["count"] >= n or time.monotonic() - start > timeout:
            return time.monotonic() - start, s
        time.sleep(0.05)


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] * 1000 if values else float("nan")


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="dockyard-bench-"))
    rport = free_port()
    rproc = multiprocessing.Process(target=receiver_main, args=(rport,), daemon=True)
    rproc.start()
    srv = make_server(
        folder,
        create_database(folder),
        {"DOCKYARD_WEBHOOK_BLOCKED_NETWORKS": "", "DOCKYARD_LOG_LEVEL": "WARNING"},
    )
    srv.env["DOCKYARD_EXTERNAL_URL"] = f"http://{srv.host}"
    srv.start()
    try:
        seed.user(srv, "alice")
        for name in ("fan", "many", "lat0", "lat1000"):
            seed.repo(srv, "alice", name)
        admin = srv.client(auth=srv.admin_auth)
        hook = f"http://127.0.0.1:{rport}/hook"

        def subscribe(key: str, n: int, type_: str = "TAG_PUSH") -> None:
            for _ in range(n):
                r = admin.post(
                    "/api/v0/webhooks", json={"type": type_, "key": key, "endpoint": hook}
                )
                assert r.status_code == 201, r.text

        # (a) one push -> 1,000 subscriptions
        subscribe("alice/fan", 1000)
        httpx.post(f"http://127.0.0.1:{rport}/reset")
        pusher = srv.client(auth=("alice", "password-123"))
        t0 = time.monotonic()
        push_image(pusher, "alice/fan", "v1")
        elapsed, s = wait_count(rport, 1000)
        print(
            f"(a) 1 push x 1,000 subs: {s['count']} deliveries in {elapsed:.2f} s "
            f"(push included: {time.monotonic() - t0:.2f} s) = {s['count'] / elapsed:,.0f}/s; "
            f"commit->receipt p50 {pct(s['latencies'], 0.5):.0f} ms, "
            f"p99 {pct(s['latencies'], 0.99):.0f} ms"
        )

        # (b) 5,000 events -> 10 subscriptions (50,000 deliveries)
        subscribe("alice/many", 10)
        httpx.post(f"http://127.0.0.1:{rport}/reset")
        time.monotonic()
        seed.tag_push_events(srv, "alice", "many", 5000)
        elapsed, s = wait_count(rport, 50000)
        print(
            f"(b) 5,000 events x 10 subs: {s['count']} deliveries in {elapsed:.2f} s "
            f"= {s['count'] / elapsed:,.0f}/s (saturated; commit->receipt "
            f"p50 {pct(s['latencies'], 0.5):.0f} ms, p99 {pct(s['latencies'], 0.99):.0f} ms)"
        )

        # not saturated: 200 events at ~50/s to 10 subs
        httpx.post(f"http://127.0.0.1:{rport}/reset")
        for _ in range(40):
            seed.tag_push_events(srv, "alice", "many", 5)
            time.sleep(0.05)
        _, s = wait_count(rport, 2000)
        print(
            f"    unsaturated (200 events x 10 subs, in bursts): commit->receipt "
            f"p50 {pct(s['latencies'], 0.5):.0f} ms, p99 {pct(s['latencies'], 0.99):.0f} ms"
        )

        # (c) push latency with 0 and 1,000 subscriptions
        subscribe("alice/lat1000", 1000)
        results = {}
        for repo in ("alice/lat0", "alice/lat1000"):
            push_image(pusher, repo, "warm")
            times = []
            for i in range(40):
                t = time.perf_counter()
                push_image(pusher, repo, f"t{i}", content=f"layer-{repo}-{i}".encode())
                times.append(time.perf_counter() - t)
            results[repo] = statistics.median(times)
        ratio = results["alice/lat1000"] / results["alice/lat0"]
        print(
            f"(c) push (blobs+manifest) median: 0 subs {results['alice/lat0'] * 1000:.1f} ms, "
            f"1,000 subs {results['alice/lat1000'] * 1000:.1f} ms, ratio {ratio:.3f}"
        )
    finally:
        srv.kill()
        rproc.kill()


if __name__ == "__main__":
    main()
