"""The `dockyard` command: serve, worker, db upgrade, users, orgs, tokens, gc."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard import __version__
from dockyard.config import Settings, load_settings, settings_to_env
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
    settings = load_settings(config, **overrides)
    configure_logging(settings.log_level)
    return settings


def _prepare(settings: Settings) -> None:
    """Migrate the database and make sure an admin exists (printing a generated password once)."""
    from dockyard.accounts.service import ensure_admin
    from dockyard.db.migrate import upgrade
    from dockyard.services import build_services

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)

    async def bootstrap() -> str | None:
        services = build_services(settings)
        try:
            async with services.session() as session:
                return await ensure_admin(session, settings.admin_password or None)
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
    os.execv(sys.executable, [sys.executable, "-m", "dockyard.serve_exec"])


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

    asyncio.run(run())


@app.command()
def worker(config: ConfigOpt = None) -> None:
    """Run the webhook dispatcher and delivery workers without the HTTP server."""
    from dockyard.serve_exec import MIGRATED_ENV
    from dockyard.webhooks.worker import main

    settings = _settings(config)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if os.environ.pop(MIGRATED_ENV, "") != "1":
        # Started on its own (not as `serve`'s delivery child): migrate first.
        from dockyard.db.migrate import upgrade

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
