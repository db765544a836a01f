"""What `dockyard serve` becomes (os.execv) once the database is migrated: a fresh, small
interpreter that runs Granian, and the webhook delivery child when asked to.

Why a fresh interpreter: Granian forks its workers from the process that starts it, and the CLI
process that migrated the database carries SQLAlchemy, Alembic, pydantic and typer (about 80
MB). This module imports only Granian (and the stdlib-only supervisor), so the supervising
parent stays small and each worker loads just the application. Settings arrive through the
environment (`DOCKYARD_SETTINGS_JSON`), as the workers and the delivery child read them. It is
started with `python -P`: the working folder is not on sys.path, so a `dockyard/` folder there
cannot shadow the package (Granian forks its workers, which inherit that path).
"""

from __future__ import annotations

import json
import os

# Set by `dockyard serve` when this process must supervise the webhook delivery child.
WEBHOOK_CHILD_ENV = "DOCKYARD_SERVE_WEBHOOK_CHILD"
# Set for the webhook delivery child: `dockyard serve` migrated the database before it became
# this process, so the child's `dockyard worker` skips the upgrade and never imports Alembic
# (about 8 MB of RSS held for the child's whole life).
MIGRATED_ENV = "DOCKYARD_SERVE_MIGRATED"


def main() -> None:
    from granian import Granian
    from granian.constants import Interfaces, Loops

    settings = json.loads(os.environ["DOCKYARD_SETTINGS_JSON"])
    supervisor = None
    if os.environ.pop(WEBHOOK_CHILD_ENV, "") == "1":
        from pathlib import Path

        from dockyard.webhooks.supervisor import WorkerSupervisor

        # The child delivers with this serve's settings, whole (data folder, database, flags,
        # the --config file's values): only the role differs from the HTTP processes'.
        child_env = {
            **os.environ,
            "DOCKYARD_SETTINGS_JSON": json.dumps({**settings, "run_workers": True}),
            MIGRATED_ENV: "1",
        }
        supervisor = WorkerSupervisor(Path(settings["data_dir"]), child_env)
        supervisor.start()
    server = Granian(
        "dockyard.app:app_factory",
        address=str(settings["host"]),
        port=int(settings["port"]),
        interface=Interfaces.ASGI,
        workers=int(settings["workers"]),
        factory=True,
        loop=Loops.uvloop,
        log_enabled=False,
        backlog=2048,
    )
    try:
        server.serve()
    finally:
        if supervisor is not None:
            supervisor.stop()


if __name__ == "__main__":
    main()
