"""`dockyard serve` and `dockyard worker`: the commands that become long-running processes.

`serve` checks what would make the server fail late (a busy port, a read-only data folder),
prepares the database, then hands over to `dockyard.serve_exec` in a fresh interpreter; `worker`
runs webhook delivery alone. Neither serves HTTP itself nor registers with Typer
(`dockyard/cli/__init__.py` does).
"""

from __future__ import annotations

import enum
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from dockyard import __version__
from dockyard.cli.common import ConfigOpt, fail, load, prepare, require_writable
from dockyard.cli.keys import apply_shared_keys
from dockyard.config import Settings, settings_from_env, settings_to_env
from dockyard.logging import configure_logging

# The name the start-up warnings have always been logged under (before the CLI was a package).
log = logging.getLogger("dockyard.cli")


class Role(enum.StrEnum):
    api = "api"
    worker = "worker"
    all = "all"


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _cannot_listen(host: str, port: int) -> str:
    """Why the server could not listen on host:port ("" when it can).

    Granian binds with SO_REUSEPORT, so a second server on a busy port would start and share
    the traffic with the first; a probe socket without SO_REUSEPORT is refused instead."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"cannot resolve {host!r} ({exc.strerror})"
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # As servers do: a port left in TIME_WAIT is free, a port with a listener is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            return (exc.strerror or str(exc)).lower()
    return ""


def _check_startup(settings: Settings) -> None:
    """Exit with one line if the server could not listen or write; warn if SSRF checks are off."""
    problem = _cannot_listen(settings.host, settings.port)
    if problem:
        fail(
            f"cannot listen on {_address(settings.host, settings.port)}: {problem} "
            "(is another dockyard running? choose another port with --port or DOCKYARD_PORT)"
        )
    require_writable(settings.data_dir)
    if not settings.webhook_blocked_networks.strip():
        log.warning(
            "webhook.ssrf_policy.disabled",
            extra={
                "detail": "DOCKYARD_WEBHOOK_BLOCKED_NETWORKS is empty: webhooks may reach "
                "loopback, link-local and cloud metadata addresses (169.254.169.254)"
            },
        )


def serve(
    config: ConfigOpt = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Data folder.")] = None,
    workers: Annotated[
        int | None, typer.Option(help="HTTP worker processes (default: one per CPU).")
    ] = None,
    role: Annotated[
        Role | None,
        typer.Option(help="api: HTTP only; worker: delivery, scanning, policies; all: both."),
    ] = None,
) -> None:
    """Run the registry (migrates the database first)."""
    from dockyard.serve_exec import WEBHOOK_CHILD_ENV

    overrides = {} if role is None else {"role": role.value}
    settings = load(config, host=host, port=port, data_dir=data_dir, workers=workers, **overrides)
    # Absolute, so that every process of this serve (HTTP workers, the delivery child) names the
    # same folder whatever its working folder.
    settings = settings.model_copy(update={"data_dir": settings.data_dir.resolve()})
    if settings.role == "worker":
        _become_worker(settings)
    if settings.role == "api":
        settings = settings.model_copy(update={"run_workers": False})
    _check_startup(settings)
    from dockyard.webhooks import liveness

    liveness.clear(settings.data_dir)
    if settings.run_workers:
        # Webhook delivery runs in a supervised child process (its own GIL, the second core);
        # counters are shared with the HTTP process's /metrics through this folder.
        from dockyard.webhooks.supervisor import prepare_metrics_dir

        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(prepare_metrics_dir(settings.data_dir))
    prepare(settings)
    settings = apply_shared_keys(settings)
    if settings.run_workers:
        # The HTTP processes only forward wake-ups; the supervised child delivers.
        os.environ["DOCKYARD_RUN_WORKERS"] = "false"
        os.environ[WEBHOOK_CHILD_ENV] = "1"
        http_settings = settings.model_copy(update={"run_workers": False})
    else:
        http_settings = settings
    os.environ.update(settings_to_env(http_settings))
    typer.echo(
        f"dockyard {__version__} listening on http://{settings.host}:{settings.port} "
        f"(data in {settings.data_dir.resolve()})",
        err=True,
    )
    sys.stdout.flush()
    sys.stderr.flush()
    # A fresh interpreter (same pid) runs the server: the migration's imports stay behind.
    # -P keeps the working folder off sys.path: a `dockyard/` folder there must not shadow us.
    os.execv(sys.executable, [sys.executable, "-P", "-m", "dockyard.serve_exec"])


def _become_worker(settings: Settings) -> NoReturn:
    """`serve --role worker`: migrate, then become `dockyard worker` with these settings."""
    from dockyard.serve_exec import MIGRATED_ENV

    require_writable(settings.data_dir)
    prepare(settings)
    settings = apply_shared_keys(settings.model_copy(update={"run_workers": True}))
    os.environ.update(settings_to_env(settings))
    os.environ[MIGRATED_ENV] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-P", "-m", "dockyard", "worker"])


def worker(config: ConfigOpt = None) -> None:
    """Run the webhook dispatcher and delivery workers without the HTTP server."""
    from dockyard.serve_exec import MIGRATED_ENV
    from dockyard.webhooks.supervisor import CHILD_NUMBER_ENV, WorkerSupervisor
    from dockyard.webhooks.worker import main

    # Set by a supervisor (serve's, or a lone worker's for its siblings): which process this is.
    supervised = CHILD_NUMBER_ENV in os.environ
    number = int(os.environ.pop(CHILD_NUMBER_ENV, "0") or 0)
    if os.environ.pop(MIGRATED_ENV, "") == "1":
        # `serve`'s delivery child: the serve's own settings, whole (its flags, its --config
        # file), never re-read from this process's environment and working folder.
        settings = settings_from_env()
        configure_logging(settings.log_level)
    else:
        # Started on its own: load the settings and migrate first.
        from dockyard.db.migrate import upgrade

        settings = load(config)
        require_writable(settings.data_dir)
        upgrade(settings.resolved_database_url)
        settings = apply_shared_keys(settings)
    siblings: WorkerSupervisor | None = None
    if not supervised and settings.delivery_processes > 1:
        # A worker on its own (`dockyard worker`, `serve --role worker`) is process 0; the others
        # (claim, send, record only) are its children, with its settings whole.
        env = {**os.environ, **settings_to_env(settings), MIGRATED_ENV: "1"}
        siblings = WorkerSupervisor(settings.data_dir, env, first=1, nice=0)
    typer.echo(f"dockyard {__version__} webhook worker running", err=True)
    if number:
        # Delivery only: the dispatcher and the consumers run once, in process 0.
        main(settings, number=number)
        return
    from dockyard.policies.mirror_worker import run_mirror_worker
    from dockyard.policies.pruning_worker import run_pruning_worker
    from dockyard.policies.worker import run_promotion_worker
    from dockyard.scanning.worker import run_scanner

    workers = (run_scanner, run_promotion_worker, run_mirror_worker, run_pruning_worker)
    from dockyard.replicas.heartbeat import cluster_tasks

    if siblings is not None:
        siblings.start()
    try:
        main(settings, companions=(*workers, *cluster_tasks(settings, "worker")))
    finally:
        if siblings is not None:
            siblings.stop()
