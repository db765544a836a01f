"""Idle cost benchmark (not a test): CPU seconds each process of an idle `dockyard serve`
spends over a quiet interval (psutil), the delivery child above all.

A server is started with one subscription (so the engine has something to look at), left to
settle, then measured for `--seconds` with nothing to do. The processes are told apart by
their command lines: the delivery child runs `-m dockyard worker`.

`--engine-only` measures the delivery engine alone instead (`webhooks.worker.run_workers`
without the companions the `dockyard worker` process runs beside it: scanner, policies, cluster
heartbeats), in this process, on a fresh database: its own idle cost, whatever the others do.

Run: .venv/bin/python bench/idle.py [--seconds 30] [--settle 5] [--engine-only]
(DOCKYARD_TEST_DATABASE_URL=postgresql+asyncpg://... runs it against a fresh PostgreSQL DB.)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakes import webhook_seed as seed
from tests.fakes.databases import create_database, drop_database
from tests.fakes.server import make_server


def role(proc: psutil.Process, root: psutil.Process) -> str:
    if proc.pid == root.pid:
        return "serve (supervisor)"
    if "dockyard worker" in " ".join(proc.cmdline()):
        return "delivery child"
    return "HTTP worker"


def cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def engine_only(seconds: float, settle: float) -> None:
    import asyncio
    import os

    from dockyard.config import Settings
    from dockyard.db.migrate import upgrade
    from dockyard.services import build_services
    from dockyard.webhooks.worker import run_workers

    folder = Path(tempfile.mkdtemp(prefix="dockyard-idle-engine-"))
    db = create_database(folder)
    upgrade(db)
    settings = Settings(data_dir=folder / "data", database_url=db)

    async def run() -> float:
        services = build_services(settings)
        task = asyncio.create_task(run_workers(services))
        await asyncio.sleep(settle)
        start = time.process_time()  # every thread of this process (aiosqlite's included)
        await asyncio.sleep(seconds)
        spent = time.process_time() - start
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await services.close()
        return spent

    import uvloop

    try:
        spent = uvloop.run(run())
    finally:
        drop_database(db)
    print(f"database: {db.split(':', 1)[0]}; engine only (pid {os.getpid()}), idle {seconds:.0f} s")
    print(f"  delivery engine: {spent:.3f} s CPU", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--engine-only", action="store_true")
    args = parser.parse_args()
    if args.engine_only:
        engine_only(args.seconds, args.settle)
        return
    folder = Path(tempfile.mkdtemp(prefix="dockyard-idle-"))
    db = create_database(folder)
    env = {"DOCKYARD_LOG_LEVEL": "WARNING", "DOCKYARD_WEBHOOK_BLOCKED_NETWORKS": ""}
    srv = make_server(folder, db, env)
    srv.start()
    try:
        seed.user(srv, "alice")
        seed.repo(srv, "alice", "idle")
        admin = srv.client(auth=srv.admin_auth)
        r = admin.post(
            "/api/v0/webhooks",
            json={"type": "TAG_PUSH", "key": "alice/idle", "endpoint": "http://127.0.0.1:9/h"},
        )
        assert r.status_code == 201, r.text
        time.sleep(args.settle)
        assert srv.proc is not None
        root = psutil.Process(srv.proc.pid)
        procs = [root, *root.children(recursive=True)]
        before = {p.pid: cpu(p) for p in procs}
        time.sleep(args.seconds)
        print(f"database: {db.split(':', 1)[0]}; idle {args.seconds:.0f} s", flush=True)
        for p in procs:
            spent = cpu(p) - before[p.pid]
            print(f"  {role(p, root):20} pid {p.pid}: {spent:.3f} s CPU", flush=True)
    finally:
        srv.kill()
        drop_database(db)


if __name__ == "__main__":
    main()
