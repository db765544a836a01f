"""Webhook delivery benchmark (not a test): deliveries/s, commit->receipt latency, push latency.

(a) one push fanned out to 1,000 subscriptions;
(b) 5,000 events to 10 subscriptions (50,000 deliveries, saturated), then unsaturated steady
    streams of real pushes (200, 500 and 1,000 deliveries/s offered) for the commit->receipt
    latency target;
(c) push latency with 0 and with 1,000 subscriptions, as a ratio: once with the deliveries of
    each push drained before the next (the cost the push itself pays), once back to back with
    deliveries in flight (the cost of sharing the machine with the delivery engine).

The receiver is a raw uvloop HTTP/1.1 server in its own process: it answers 200 and records
(receipt time, the event's createdAt); it parses timestamps only when asked for its figures,
so it stays far faster than the engine it measures. Latency is from the event's createdAt
(set inside the committing transaction) to receipt.

Run: .venv/bin/python bench/webhooks.py [--only a,b,c] [--subs 1000] [--events 5000]
(DOCKYARD_TEST_DATABASE_URL=postgresql+asyncpg://... runs it against a fresh PostgreSQL DB;
--env DOCKYARD_DELIVERY_PROCESSES=2 runs two delivery processes.)
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakes import webhook_seed as seed
from tests.fakes.databases import create_database, drop_database
from tests.fakes.server import RunningServer, free_port, make_server

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def receiver_main(port: int) -> None:
    """Keep-alive HTTP/1.1 server: 200 to every POST; GET /stats, POST /reset."""
    import uvloop

    received: list[tuple[float, bytes]] = []

    def created_at(body: bytes) -> bytes:
        at = body.find(b'"createdAt":"')
        return body[at + 13 : body.find(b'"', at + 13)] if at >= 0 else b""

    class Proto(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.t = transport
            self.buf = b""

        def data_received(self, data: bytes) -> None:
            self.buf = self.buf + data if self.buf else data
            out: list[bytes] = []
            while True:
                head_end = self.buf.find(b"\r\n\r\n")
                if head_end < 0:
                    break
                head = self.buf[:head_end].lower() + b"\r\n"
                at = head.find(b"content-length:")
                length = int(head[at + 15 : head.find(b"\r\n", at)].strip() or 0) if at >= 0 else 0
                end = head_end + 4 + length
                if len(self.buf) < end:
                    break
                body = self.buf[head_end + 4 : end]
                self.buf = self.buf[end:]
                if head.startswith(b"get /stats"):
                    now = time.time()
                    lat: list[float] = []
                    first = now
                    for t, c in received:
                        if c:
                            ts = parse_time(c.decode())
                            lat.append(t - ts.timestamp())
                            first = min(first, ts.timestamp())
                    last = max((t for t, _ in received), default=now)
                    doc = json.dumps(
                        {
                            "count": len(received),
                            "latencies": lat,
                            "first_commit": first,
                            "last_receipt": last,
                        }
                    ).encode()
                    out.append(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(doc), doc))
                    continue
                if head.startswith(b"post /reset"):
                    received.clear()
                elif head.startswith(b"get /count"):
                    doc = str(len(received)).encode()
                    out.append(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(doc), doc))
                    continue
                else:
                    received.append((time.time(), created_at(body)))
                out.append(OK)
            if out:
                self.t.write(b"".join(out))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Proto, "127.0.0.1", port, backlog=4096)
        await server.serve_forever()

    uvloop.run(main())


def parse_time(text: str) -> datetime:
    """RFC 3339 with up to nanosecond fractions (Python 3.11 parses microseconds only)."""
    text = text.replace("Z", "+00:00")
    if "." in text:
        head, rest = text.split(".", 1)
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[:digits][:6].ljust(6, '0')}{rest[digits:]}"
    return datetime.fromisoformat(text)


class Receiver:
    def __init__(self) -> None:
        self.port = free_port()
        self.proc = multiprocessing.Process(target=receiver_main, args=(self.port,), daemon=True)
        self.proc.start()
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=60)
        for _ in range(100):
            try:
                self.count()
                return
            except httpx.HTTPError:
                time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def reset(self) -> None:
        self.http.post("/reset")

    def count(self) -> int:
        return int(self.http.get("/count").text)

    def stats(self) -> dict[str, Any]:
        return dict(self.http.get("/stats").json())

    def wait(self, n: int, timeout: float = 600) -> int:
        deadline = time.monotonic() + timeout
        while (c := self.count()) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return c


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] * 1000 if values else float("nan")


def figures(s: dict[str, Any]) -> str:
    span = s["last_receipt"] - s["first_commit"]
    return (
        f"{s['count']:,} deliveries in {span:.2f} s after the commit = "
        f"{s['count'] / span:,.0f}/s; commit->receipt p50 {pct(s['latencies'], 0.5):.0f} ms, "
        f"p99 {pct(s['latencies'], 0.99):.0f} ms"
    )


class Pusher:
    """Pushes one-layer images; times the whole push and the manifest PUT alone."""

    def __init__(self, srv: RunningServer, auth: tuple[str, str]) -> None:
        # Bearer tokens, as skopeo/docker use: Basic would add a password hash to every request.
        self.srv = srv
        self.auth = auth
        self.c = srv.client()
        self.tokens: dict[str, dict[str, str]] = {}
        self.n = 0

    def h(self, repo: str) -> dict[str, str]:
        if repo not in self.tokens:
            r = self.srv.client(auth=self.auth).get(
                "/auth/token",
                params={"service": self.srv.host, "scope": f"repository:{repo}:pull,push"},
            )
            assert r.status_code == 200, r.text
            self.tokens[repo] = {"Authorization": f"Bearer {r.json()['token']}"}
        return self.tokens[repo]

    def blob(self, repo: str, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        r = self.c.post(
            f"/v2/{repo}/blobs/uploads/?digest={digest}", content=data, headers=self.h(repo)
        )
        assert r.status_code == 201, r.text
        return digest

    def push(self, repo: str, tag: str) -> tuple[float, float]:
        self.n += 1
        t0 = time.perf_counter()
        config = json.dumps({"architecture": "amd64", "os": "linux", "n": self.n}).encode()
        layer = f"layer-{repo}-{tag}-{self.n}".encode()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": self.blob(repo, config),
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": self.blob(repo, layer),
                        "size": len(layer),
                    }
                ],
            }
        ).encode()
        t1 = time.perf_counter()
        r = self.c.put(
            f"/v2/{repo}/manifests/{tag}",
            content=manifest,
            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json", **self.h(repo)},
        )
        t2 = time.perf_counter()
        assert r.status_code == 201, r.text
        return t2 - t0, t2 - t1


def subscribe(admin: httpx.Client, key: str, n: int, url: str) -> None:
    for _ in range(n):
        r = admin.post("/api/v0/webhooks", json={"type": "TAG_PUSH", "key": key, "endpoint": url})
        assert r.status_code == 201, r.text


def ms(v: float) -> str:
    return f"{v * 1000:.1f} ms"


def bench_a(srv: RunningServer, rcv: Receiver, pusher: Pusher, subs: int) -> None:
    rcv.reset()
    pusher.push("alice/fan", "v1")
    rcv.wait(subs)
    print(f"(a) 1 push x {subs:,} subs: {figures(rcv.stats())}", flush=True)


def bench_b(srv: RunningServer, rcv: Receiver, pusher: Pusher, events: int) -> None:
    rcv.reset()
    seed.tag_push_events(srv, "alice", "many", events)
    rcv.wait(events * 10)
    print(f"(b) {events:,} events x 10 subs (saturated): {figures(rcv.stats())}", flush=True)
    # Not saturated: a steady stream of real pushes (each wakes the engine as in production).
    # One client pushes at most about 40 images/s, so 1,000 deliveries/s offered is 20 pushes/s
    # to a repository with 50 subscriptions.
    subscribe(srv.client(auth=srv.admin_auth), "alice/wide", 50, rcv.url)
    streams = ((20, "alice/many", 10), (50, "alice/many", 10), (20, "alice/wide", 50))
    for rate, repo, subs in streams:
        rcv.reset()
        n = rate * 8
        start = time.monotonic()
        for i in range(n):
            pusher.push(repo, f"s{rate}-{i}")
            delay = start + (i + 1) / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        rcv.wait(n * subs)
        s = rcv.stats()
        print(
            f"    unsaturated, {rate} pushes/s x {subs} subs ({rate * subs} deliveries/s "
            f"offered): {s['count']:,} deliveries, commit->receipt p50 "
            f"{pct(s['latencies'], 0.5):.0f} ms, p99 {pct(s['latencies'], 0.99):.0f} ms",
            flush=True,
        )


def bench_c(srv: RunningServer, rcv: Receiver, pusher: Pusher, subs: int, rounds: int) -> None:
    for repo in ("alice/lat0", "alice/lat1000"):
        pusher.push(repo, "warm")
    rcv.wait(subs)

    def run(repo: str, i: int, after: Callable[[], None] | None) -> tuple[float, float]:
        out = pusher.push(repo, f"t{i}")
        if after:
            after()
        return out

    # Drained: alternate the two repositories (cancels drift from other load on the machine)
    # and wait for each fan-out to arrive before the next push.
    zero: list[tuple[float, float]] = []
    many: list[tuple[float, float]] = []
    for i in range(rounds):
        zero.append(run("alice/lat0", i, None))
        rcv.reset()
        many.append(run("alice/lat1000", i, lambda: rcv.wait(subs)))
        time.sleep(0.05)
    report("(c) drained between pushes", zero, many)

    # Under delivery load: back to back, the fan-outs of earlier pushes still in flight.
    zero = [run("alice/lat0", rounds + i, None) for i in range(rounds)]
    rcv.reset()
    many = [run("alice/lat1000", rounds + i, None) for i in range(rounds)]
    rcv.wait(subs * rounds)
    report("    under delivery load (back to back)", zero, many)


def report(label: str, zero: list[tuple[float, float]], many: list[tuple[float, float]]) -> None:
    z_all = statistics.median(t for t, _ in zero)
    m_all = statistics.median(t for t, _ in many)
    z_put = statistics.median(t for _, t in zero)
    m_put = statistics.median(t for _, t in many)
    print(
        f"{label}: push (2 blobs + manifest) median 0 subs {ms(z_all)}, 1,000 subs "
        f"{ms(m_all)}, ratio {m_all / z_all:.3f}; manifest PUT {ms(z_put)} vs {ms(m_put)}, "
        f"ratio {m_put / z_put:.3f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="a,b,c")
    parser.add_argument("--subs", type=int, default=1000)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--env", action="append", default=[], help="extra NAME=value")
    args = parser.parse_args()
    only = set(args.only.split(","))

    folder = Path(tempfile.mkdtemp(prefix="dockyard-bench-"))
    rcv = Receiver()
    db = create_database(folder)
    # The per-key and per-user subscription caps would refuse the benchmark's own fan-out.
    cap = str(args.subs + 100)
    env = {
        "DOCKYARD_WEBHOOK_BLOCKED_NETWORKS": "",
        "DOCKYARD_LOG_LEVEL": "WARNING",
        "DOCKYARD_WEBHOOK_MAX_PER_KEY": cap,
        "DOCKYARD_WEBHOOK_MAX_PER_USER": str(2 * args.subs + 100),
        # The production default (test servers run the delivery child at priority 0).
        "DOCKYARD_DELIVERY_NICE": "10",
    }
    env.update(dict(e.split("=", 1) for e in args.env))
    srv = make_server(folder, db, env)
    srv.env["DOCKYARD_EXTERNAL_URL"] = f"http://{srv.host}"
    srv.start()
    print(f"database: {db.split(':', 1)[0]}; server log: {srv.log_path}", flush=True)
    try:
        seed.user(srv, "alice")
        for name in ("fan", "many", "wide", "lat0", "lat1000"):
            seed.repo(srv, "alice", name)
        admin = srv.client(auth=srv.admin_auth)
        pusher = Pusher(srv, ("alice", "password-123"))
        if "a" in only:
            subscribe(admin, "alice/fan", args.subs, rcv.url)
            bench_a(srv, rcv, pusher, args.subs)
        if "b" in only:
            subscribe(admin, "alice/many", 10, rcv.url)
            bench_b(srv, rcv, pusher, args.events)
        if "c" in only:
            subscribe(admin, "alice/lat1000", args.subs, rcv.url)
            bench_c(srv, rcv, pusher, args.subs, args.rounds)
    finally:
        srv.kill()
        rcv.proc.kill()
        drop_database(db)


if __name__ == "__main__":
    main()
