"""The `dockyard` command: serve, worker, db upgrade, users, orgs, tokens, gc."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard import __version__
from dockyard.config import Settings, load_settings, settings_from_env, settings_to_env
from dockyard.logging import configure_logging

app = typer.Typer(
    help="dockyard: an OCI registry with MSR-compatible webhooks.", no_args_is_help=True
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
orgs_app = typer.Typer(help="Manage organizations.", no_args_is_help=True)
tokens_app = typer.Typer(help="Manage API access tokens.", no_args_is_help=True)
app.add_typer(orgs_app, name="orgs")
app.add_typer(tokens_app, name="tokens")

T = TypeVar("T")

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="YAML file with settings (DOCKYARD_* names).")
]


def _settings(config: Path | None, **overrides: object) -> Settings:
    from dockyard.storage.datadir import use_private_umask

    # First thing: every file any command (and the server it becomes) creates in the data
    # folder, database and blobs included, is readable by this account only.
    use_private_umask()
    try:
        settings = load_settings(config, **overrides)
    except (OSError, ValueError) as exc:
        # An unreadable --config file or a malformed setting: say which, in one paragraph.
        _fail(f"invalid settings: {exc}")
    configure_logging(settings.log_level)
    return settings


def _fail(message: str) -> NoReturn:
    """One clear line on stderr and a non-zero exit, instead of a traceback."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


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


def _require_writable(data_dir: Path) -> None:
    """Create the data folder and prove it takes a file, or exit with one line saying why."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=data_dir, prefix=".write-test-"):
            pass
    except OSError as exc:
        _fail(f"the data folder {data_dir} is not writable: {(exc.strerror or str(exc)).lower()}")


def _prepare(settings: Settings) -> None:
    """Migrate the database and make sure an admin exists (printing a generated password once)."""
    from dockyard.accounts.service import ensure_admin
    from dockyard.db.migrate import upgrade
    from dockyard.services import build_services

    _require_writable(settings.data_dir)
    upgrade(settings.resolved_database_url)
    from dockyard.storage.datadir import make_private

    # Files an older version created world-readable: the folder becomes 0700, its entries
    # 0600/0700 (on every start, so a restored backup is covered too).
    make_private(settings.data_dir, settings.resolved_database_url)

    async def bootstrap() -> str | None:
        services = build_services(settings)
        try:
            async with services.session() as session:
                generated = await ensure_admin(session, settings.admin_password or None)
                await session.commit()
                return generated
        finally:
            await services.close()

    generated = asyncio.run(bootstrap())
    if generated:
        typer.echo(
            "\n  Created the first administrator.\n"
            f"    username: admin\n    password: {generated}\n"
            "  This password is shown only once. Log in with it, then change it or set\n"
            "  DOCKYARD_ADMIN_PASSWORD before the first start next time.\n",
            err=True,
        )


@app.command()
def serve(
    config: ConfigOpt = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Data folder.")] = None,
    workers: Annotated[int | None, typer.Option(help="Server worker processes.")] = None,
) -> None:
    """Run the registry (migrates the database first)."""
    import sys

    from dockyard.serve_exec import WEBHOOK_CHILD_ENV

    settings = _settings(config, host=host, port=port, data_dir=data_dir, workers=workers)
    # Absolute, so that every process of this serve (HTTP workers, the delivery child) names the
    # same folder whatever its working folder.
    settings = settings.model_copy(update={"data_dir": settings.data_dir.resolve()})
    problem = _cannot_listen(settings.host, settings.port)
    if problem:
        _fail(
            f"cannot listen on {_address(settings.host, settings.port)}: {problem} "
            "(is another dockyard running? choose another port with --port or DOCKYARD_PORT)"
        )
    _require_writable(settings.data_dir)
    if not settings.webhook_blocked_networks.strip():
        logging.getLogger(__name__).warning(
            "webhook.ssrf_policy.disabled",
            extra={
                "detail": "DOCKYARD_WEBHOOK_BLOCKED_NETWORKS is empty: webhooks may reach "
                "loopback, link-local and cloud metadata addresses (169.254.169.254)"
            },
        )
    from dockyard.webhooks import liveness

    liveness.clear(settings.data_dir)
    if settings.run_workers:
        # Webhook delivery runs in a supervised child process (its own GIL, the second core);
        # counters are shared with the HTTP process's /metrics through this folder.
        from dockyard.webhooks.supervisor import prepare_metrics_dir

        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(prepare_metrics_dir(settings.data_dir))
    _prepare(settings)
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


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt = None) -> None:
    """Apply database migrations."""
    from dockyard.db.migrate import upgrade

    settings = _settings(config)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    typer.echo("database is up to date")


@users_app.command("create")
def users_create(
    name: str,
    admin: Annotated[bool, typer.Option("--admin", help="Make the user a registry admin.")] = False,
    password: Annotated[
        str | None, typer.Option(help="Password (prompted for when omitted).")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Create a user."""
    from dockyard.accounts.service import create_user
    from dockyard.errors import DockyardError
    from dockyard.services import build_services

    settings = _settings(config)
    _prepare(settings)
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def run() -> None:
        services = build_services(settings)
        try:
            async with services.session() as session:
                await create_user(session, name, password, is_admin=admin)
                await session.commit()
        finally:
            await services.close()

    try:
        asyncio.run(run())
    except DockyardError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"created user {name}{' (admin)' if admin else ''}")


@app.command()
def gc(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would be removed; remove nothing.")
    ] = False,
    grace_minutes: Annotated[
        int, typer.Option(help="Keep anything younger than this (pushes in progress).")
    ] = 60,
    config: ConfigOpt = None,
) -> None:
    """Remove unreferenced blobs and untagged manifests (safe while the server runs)."""
    from datetime import timedelta

    from rich.progress import Progress as RichProgress

    from dockyard.db.migrate import upgrade
    from dockyard.repos.gc import collect
    from dockyard.services import build_services

    settings = _settings(config)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)

    async def run() -> None:
        services = build_services(settings)
        tasks: dict[str, object] = {}
        try:
            with RichProgress(transient=False) as bar:

                def progress(stage: str, done: int, total: int) -> None:
                    task = tasks.get(stage)
                    if task is None:
                        task = tasks[stage] = bar.add_task(stage, total=max(total, 1))
                    bar.update(task, completed=done if total else 1)  # type: ignore[arg-type]

                report = await collect(
                    services.sessionmaker,
                    services.storage,
                    grace=timedelta(minutes=grace_minutes),
                    dry_run=dry_run,
                    progress=progress,
                )
        finally:
            await services.close()
        verb = "would remove" if dry_run else "removed"
        typer.echo(
            f"gc {verb}: {report.manifests_deleted} manifests, {report.blobs_deleted} blobs "
            f"({report.bytes_freed} bytes), {report.orphan_files_deleted} orphan files, "
            f"{report.uploads_deleted} uploads"
        )
        if report.kept_total:
            # Otherwise a gc right after deleting tags removes nothing and does not say why.
            typer.echo(
                f"gc kept {report.kept_manifests} manifests, {report.kept_blobs} blobs, "
                f"{report.kept_files} files and {report.kept_uploads} uploads because they are "
                f"younger than the grace period ({grace_minutes} minutes); they go at a later gc "
                "(--grace-minutes 0 removes them now, unsafe while a push is in progress)"
            )

    asyncio.run(run())


@app.command()
def worker(config: ConfigOpt = None) -> None:
    """Run the webhook dispatcher and delivery workers without the HTTP server."""
    from dockyard.serve_exec import MIGRATED_ENV
    from dockyard.webhooks.worker import main

    if os.environ.pop(MIGRATED_ENV, "") == "1":
        # `serve`'s delivery child: the serve's own settings, whole (its flags, its --config
        # file), never re-read from this process's environment and working folder.
        settings = settings_from_env()
        configure_logging(settings.log_level)
    else:
        # Started on its own: load the settings and migrate first.
        from dockyard.db.migrate import upgrade

        settings = _settings(config)
        _require_writable(settings.data_dir)
        upgrade(settings.resolved_database_url)
    typer.echo(f"dockyard {__version__} webhook worker running", err=True)
    main(settings)


def _run_with_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one session against the configured database (migrated first)."""
    from dockyard.errors import DockyardError
    from dockyard.services import build_services

    async def run() -> T:
        services = build_services(settings)
        try:
            async with services.session() as session:
                return await work(session)
        finally:
            await services.close()

    try:
        return asyncio.run(run())
    except DockyardError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc


@users_app.command("list")
def users_list(config: ConfigOpt = None) -> None:
    """List users and organizations (name, kind, admin, active)."""
    from dockyard.accounts.service import list_accounts

    settings = _settings(config)
    _prepare(settings)

    async def work(session: AsyncSession) -> list[tuple[str, str, bool, bool]]:
        rows = await list_accounts(session, "all")
        return [(a.name, "org" if a.is_org else "user", a.is_admin, a.is_active) for a in rows]

    for name, kind, is_admin, is_active in _run_with_session(settings, work):
        flags = " ".join(f for f, on in (("admin", is_admin), ("inactive", not is_active)) if on)
        typer.echo(f"{name}\t{kind}\t{flags}".rstrip())


@orgs_app.command("create")
def orgs_create(
    name: str,
    owner: Annotated[
        list[str] | None, typer.Option("--owner", help="User to make an owner (repeatable).")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Create an organization, optionally with owners."""
    from dockyard.accounts.service import create_org, require_user, set_org_member

    settings = _settings(config)
    _prepare(settings)

    async def work(session: AsyncSession) -> None:
        org = await create_org(session, name)
        for user_name in owner or []:
            user = await require_user(session, user_name)
            await set_org_member(session, org, user, is_admin=True)
        await session.commit()

    _run_with_session(settings, work)
    typer.echo(f"created organization {name}")


@tokens_app.command("create")
def tokens_create(
    user: str,
    label: Annotated[str, typer.Option("--label", help="A label to recognise the token by.")] = "",
    config: ConfigOpt = None,
) -> None:
    """Create an API token for USER and print it (it is shown only this once)."""
    from dockyard.accounts.service import create_token, require_user

    settings = _settings(config)
    _prepare(settings)

    async def work(session: AsyncSession) -> str:
        account = await require_user(session, user)
        _token, plaintext = await create_token(session, account, label=label, generated_by="cli")
        await session.commit()
        return plaintext

    typer.echo(_run_with_session(settings, work))


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    app()
