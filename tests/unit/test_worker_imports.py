"""What an HTTP worker of `dockyard serve` holds before a request needs more: the registry,
its token route and the hooks of every feature, but not the API and page modules, nor the
template engine and Markdown renderer (each worker's memory is counted once per worker); and
the delivery process on SQLite, which never loads the PostgreSQL driver."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

NOT_YET = (
    "jinja2",
    "markdown_it",
    "nh3",
    "dockyard.ui.repo_pages",
    "dockyard.repos.routes",
    "dockyard.accounts.routes",
    "dockyard.policies.routes",
    # The outbound transport and the subscription service: a worker serving /v2 sends no test.
    "aiohttp",
    "cloudevents",
    "dockyard.webhooks.transport",
    "dockyard.webhooks.service",
)


def test_an_http_worker_loads_pages_and_apis_when_asked(tmp_path: Path) -> None:
    settings = json.dumps({"data_dir": str(tmp_path), "run_workers": False})
    probe = (
        "import sys; from dockyard.app import app_factory; app_factory(); "
        f"print(sorted(m for m in {NOT_YET!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env={"DOCKYARD_SETTINGS_JSON": settings, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_the_delivery_process_on_sqlite_never_loads_the_postgresql_driver(tmp_path: Path) -> None:
    probe = (
        "import sys, dockyard.webhooks.worker, dockyard.events.notify; "
        "print('asyncpg' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.stdout.strip().splitlines()[-1] == "False"
