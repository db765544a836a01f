"""What a process runs beside its work: the heartbeat always, the cross-node wake-ups only on
PostgreSQL, and on SQLite not even their module (asyncpg stays out of the HTTP workers)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from dockyard.config import Settings
from dockyard.replicas.heartbeat import cluster_tasks

POSTGRES = "postgresql+asyncpg://dockyard@127.0.0.1:5432/dockyard"


def test_sqlite_runs_the_heartbeat_alone(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert len(cluster_tasks(settings, "api")) == 1
    assert len(cluster_tasks(settings, "all")) == 1


def test_postgres_forwards_commits_and_consumers_listen(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=POSTGRES)
    assert len(cluster_tasks(settings, "api")) == 2  # heartbeat, forward
    assert len(cluster_tasks(settings, "all")) == 3  # heartbeat, forward, listen


def test_an_http_worker_on_sqlite_does_not_import_asyncpg(tmp_path: Path) -> None:
    settings = json.dumps({"data_dir": str(tmp_path), "run_workers": False})
    probe = (
        "import sys; from dockyard.app import app_factory; app_factory(); "
        "print(sorted(m for m in ('asyncpg', 'dockyard.events.notify') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env={"DOCKYARD_SETTINGS_JSON": settings, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"
