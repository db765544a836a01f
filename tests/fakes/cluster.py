"""Several dockyard processes on one PostgreSQL database, as several nodes run them: API replicas
(`serve --role api`, each with its own data folder) and workers (`serve --role worker`, which
serves no HTTP, so it is ready when its replica row appears).

Multi-node tests always run on PostgreSQL: DOCKYARD_TEST_DATABASE_URL's server, else the one
`make test` starts (scripts/ensure-postgres.sh) at the Makefile's address."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from tests.fakes.databases import postgres_base_url
from tests.fakes.server import ADMIN_PASSWORD, RunningServer, make_server

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def pg_base() -> str:
    return postgres_base_url() or DEFAULT_PG


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(_dsn(pg_base()))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_pg_database() -> str:
    name = f"dockyard_n_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    return f"{pg_base().rsplit('/', 1)[0]}/{name}"


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def fetch(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(_dsn(url))
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def api_replica(folder: Path, database_url: str, env: dict[str, str]) -> RunningServer:
    folder.mkdir(parents=True)
    srv = make_server(folder, database_url, env)
    srv.extra_args = ["--role", "api"]
    return srv


@dataclass
class WorkerProcess:
    data_dir: Path
    database_url: str
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90.0) -> None:
        env = {
            **os.environ,
            "DOCKYARD_DATA_DIR": str(self.data_dir),
            "DOCKYARD_DATABASE_URL": self.database_url,
            "DOCKYARD_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "DOCKYARD_PORT": "1",  # never listened on: a worker serves no HTTP
            **self.env,
        }
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dockyard", "serve", "--role", "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.logs()[-4000:]}")
            rows = (
                asyncio.run(
                    fetch(
                        self.database_url,
                        "SELECT id FROM replicas WHERE role = 'worker' AND pid = $1",
                        self.proc.pid,
                    )
                )
                if self._migrated()
                else []
            )
            if rows:
                return
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"worker did not start:\n{self.logs()[-4000:]}")

    def _migrated(self) -> bool:
        rows = asyncio.run(
            fetch(self.database_url, "SELECT to_regclass('replicas') IS NOT NULL AS ok")
        )
        return bool(rows[0]["ok"])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(15)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def worker_process(folder: Path, database_url: str, env: dict[str, str]) -> WorkerProcess:
    folder.mkdir(parents=True)
    return WorkerProcess(folder / "data", database_url, env, folder / "worker.log")
