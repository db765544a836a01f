"""Several nodes benchmark (not a test): webhook deliveries/s with 1, 2 and 4 worker processes
(`dockyard serve --role worker`, each with its own data folder, as on separate nodes) sharing
one PostgreSQL database, and commit->receipt latency of real pushes through an API replica
(`--role api`), which reaches the worker by LISTEN/NOTIFY only (no shared data folder, so no
local Unix socket).

For each worker count: EVENTS TAG_PUSH events are written straight into the outbox at once
(x SUBS subscriptions), and the time from that commit to the last receipt gives deliveries/s.
The receiver is bench/webhooks.py's raw HTTP server in its own process. The S3 vs filesystem
push/pull line is bench/s3.py's.

Run: .venv/bin/python bench/scaleout.py [--workers 1,2,4] [--events 2000] [--subs 5]
(DOCKYARD_TEST_DATABASE_URL, else the Makefile's PostgreSQL at 127.0.0.1:5432.)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from webhooks import Pusher, Receiver, figures, pct, subscribe

from tests.fakes import webhook_seed as seed
from tests.fakes.cluster import (
    WorkerProcess,
    api_replica,
    create_pg_database,
    drop_pg_database,
    worker_process,
)


def throughput(
    api: object, rcv: Receiver, workers: list[WorkerProcess], events: int, subs: int
) -> None:
    rcv.reset()
    start = time.monotonic()
    seed.tag_push_events(api, "alice", "scale", events)  # type: ignore[arg-type]
    got = rcv.wait(events * subs)
    elapsed = time.monotonic() - start
    print(
        f"{len(workers)} worker process(es): {got:,} deliveries in {elapsed:.1f} s = "
        f"{got / elapsed:,.0f}/s (from the seeding commit); {figures(rcv.stats())}",
        flush=True,
    )


def latency(pusher: Pusher, rcv: Receiver, pushes: int, rate: float) -> None:
    rcv.reset()
    start = time.monotonic()
    for i in range(pushes):
        pusher.push("alice/latency", f"p{i}")
        delay = start + (i + 1) / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    rcv.wait(pushes)
    lat = rcv.stats()["latencies"]
    print(
        f"push through the API replica -> delivery by a worker on another data folder: "
        f"{len(lat)} pushes at {rate:g}/s, commit->receipt p50 {pct(lat, 0.5):.0f} ms, "
        f"p99 {pct(lat, 0.99):.0f} ms",
        flush=True,
    )


def _listener_main(database_url: str, conn: Any) -> None:
    """A process of its own (spawned: its own PROCESS_TOKEN) that LISTENs, as a worker does."""
    import asyncio

    from dockyard.events import notify

    asyncio.run(notify.listen(database_url, lambda: conn.send(time.time())))


async def _commit_events(database_url: str, count: int, pause: float) -> list[float]:
    import asyncio

    from dockyard.clock import utcnow
    from dockyard.db.engine import create_engine, create_sessionmaker
    from dockyard.events import bus, notify
    from dockyard.events.types import RepoEventKind, repo_event

    engine = create_engine(database_url)
    forwarder = asyncio.create_task(notify.forward_commits(engine))
    committed: list[float] = []
    try:
        for _ in range(count):
            async with create_sessionmaker(engine)() as session:
                event = repo_event(RepoEventKind.REPO_UPDATED, "alice", "wake", "a", {}, utcnow())
                bus.record(session, event)
                await session.commit()
            committed.append(time.time())
            await asyncio.sleep(pause)
    finally:
        forwarder.cancel()
        await asyncio.gather(forwarder, return_exceptions=True)
        await engine.dispose()
    return committed


def wake_latency(database_url: str, count: int = 50, pause: float = 0.2) -> None:
    """Commit in this process -> the listener process woken (NOTIFY through PostgreSQL)."""
    import asyncio
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    listener = ctx.Process(target=_listener_main, args=(database_url, theirs), daemon=True)
    listener.start()
    try:
        ours.recv()  # its first wake-up: listening
        committed = asyncio.run(_commit_events(database_url, count, pause))
        woken = [ours.recv() for _ in committed]
    finally:
        listener.kill()
    lat = [w - c for w, c in zip(woken, committed, strict=True)]
    print(
        f"cross-process wake-up (commit -> LISTEN callback in another process), {count} "
        f"commits {pause:g} s apart: p50 {pct(lat, 0.5):.1f} ms, p99 {pct(lat, 0.99):.1f} ms, "
        f"max {max(lat) * 1000:.1f} ms",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--subs", type=int, default=5)
    parser.add_argument("--pushes", type=int, default=40)
    parser.add_argument("--wake-only", action="store_true", help="only the wake-up latency")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="dockyard-scaleout-"))
    database = create_pg_database()
    rcv = Receiver()
    env = {"DOCKYARD_WEBHOOK_BLOCKED_NETWORKS": "", "DOCKYARD_LOG_LEVEL": "WARNING"}
    api = api_replica(folder / "api", database, env)
    api.env["DOCKYARD_EXTERNAL_URL"] = f"http://{api.host}"
    api.start()
    running: list[WorkerProcess] = []
    print(f"database: PostgreSQL; logs under {folder}", flush=True)
    try:
        wake_latency(database)
        if args.wake_only:
            return
        seed.user(api, "alice")
        for name in ("scale", "latency"):
            seed.repo(api, "alice", name)
        with api.client(auth=api.admin_auth) as admin:
            subscribe(admin, "alice/scale", args.subs, rcv.url)
            subscribe(admin, "alice/latency", 1, rcv.url)
        for count in (int(n) for n in args.workers.split(",")):
            for n in range(count):
                proc = worker_process(folder / f"w{count}-{n}", database, env)
                running.append(proc)
                proc.start()
            throughput(api, rcv, running, args.events, args.subs)
            if count == 1:
                latency(Pusher(api, ("alice", "password-123")), rcv, args.pushes, 5.0)
            for proc in running:
                proc.stop()
            running.clear()
    finally:
        for proc in running:
            proc.kill()
        api.kill()
        rcv.proc.kill()
        drop_pg_database(database)


if __name__ == "__main__":
    main()
