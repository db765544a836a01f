"""What every `dockyard` command shares: settings from flags, one-line failures, the data folder
check, the start-up preparation (migrate, first admin) and running work in one database session.

Owns no command and registers nothing with Typer (`dockyard/cli/__init__.py` does). Heavy imports
stay inside the functions: `dockyard --help` and `dockyard version` must not load the server.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.config import Settings, load_settings
from dockyard.logging import configure_logging

T = TypeVar("T")

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="YAML file with settings (DOCKYARD_* names).")
]


def load(config: Path | None, **overrides: object) -> Settings:
    """The settings of this command: --config file, environment, then flags; logging set up."""
    from dockyard.storage.datadir import use_private_umask

    # First thing: every file any command (and the server it becomes) creates in the data
    # folder, database and blobs included, is readable by this account only.
    use_private_umask()
    try:
        settings = load_settings(config, **overrides)
    except (OSError, ValueError) as exc:
        # An unreadable --config file or a malformed setting: say which, in one paragraph.
        fail(f"invalid settings: {exc}")
    configure_logging(settings.log_level)
    return settings


def fail(message: str) -> NoReturn:
    """One clear line on stderr and a non-zero exit, instead of a traceback."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def require_writable(data_dir: Path) -> None:
    """Create the data folder and prove it takes a file, or exit with one line saying why."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=data_dir, prefix=".write-test-"):
            pass
    except OSError as exc:
        fail(f"the data folder {data_dir} is not writable: {(exc.strerror or str(exc)).lower()}")


def prepare(settings: Settings) -> None:
    """Migrate the database and make sure an admin exists (printing a generated password once)."""
    from dockyard.accounts.service import ensure_admin
    from dockyard.db.migrate import upgrade
    from dockyard.services import build_services
    from dockyard.storage.factory import storage_problem

    require_writable(settings.data_dir)
    upgrade(settings.resolved_database_url)
    from dockyard.storage.datadir import make_private

    # Files an older version created world-readable: the folder becomes 0700, its entries
    # 0600/0700 (on every start, so a restored backup is covered too).
    make_private(settings.data_dir, settings.resolved_database_url)

    async def bootstrap() -> str | None:
        try:
            services = build_services(settings)
        except ValueError as exc:  # a storage setting missing (DOCKYARD_S3_BUCKET)
            fail(str(exc))
        try:
            problem = await storage_problem(services.storage)
            if problem:
                fail(f"the blob storage cannot be used: {problem}")
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
            "  This password is shown only once. Log in with it, then change it on the\n"
            "  web UI's Your account page (/account), or set DOCKYARD_ADMIN_PASSWORD before\n"
            "  the first start next time.\n",
            err=True,
        )


def run_with_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
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
