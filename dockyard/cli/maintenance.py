"""`dockyard db upgrade` and `dockyard gc`: maintenance of the database and the blob store.

Both migrate the database first and are safe while a server runs; what gc may remove is decided
by `dockyard.repos.gc`, never here. Registers nothing with Typer (`dockyard/cli/__init__.py`
does).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from dockyard.cli.common import ConfigOpt, load


def db_upgrade(config: ConfigOpt = None) -> None:
    """Apply database migrations."""
    from dockyard.db.migrate import upgrade

    settings = load(config)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    typer.echo("database is up to date")


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

    settings = load(config)
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
