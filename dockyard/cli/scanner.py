"""`dockyard scanner update PATH`: import an OSV vulnerability database offline.

The same road as an upload through `PUT /api/v0/imagescan/scan/update`
(`dockyard.scanning.imports.import_and_announce`): a new database version that becomes current
once complete, SCANNER_UPDATE_COMPLETED (with `success: false` when the bundle is broken, the
current version then unchanged) and a re-check of every scanned image. Safe while the server
runs. Registers nothing with Typer (`dockyard/cli/__init__.py` does).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from dockyard.cli.common import ConfigOpt, fail, load


def scanner_update(
    path: Annotated[
        Path,
        typer.Argument(
            help="A zip (such as osv.dev's per-ecosystem all.zip) or tar(.gz) of OSV JSON "
            "records, or a folder of them.",
        ),
    ],
    config: ConfigOpt = None,
) -> None:
    """Import an OSV vulnerability database (offline update) and re-check scanned images."""
    from dockyard.db.migrate import upgrade
    from dockyard.scanning.imports import import_and_announce
    from dockyard.scanning.vulndb import ImportLimits, ImportResult, VulnDBImportError
    from dockyard.services import build_services

    settings = load(config)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)

    async def run() -> ImportResult:
        services = build_services(settings)
        try:
            return await import_and_announce(
                services.sessionmaker, path.resolve(), limits=ImportLimits.from_settings(settings)
            )
        finally:
            await services.close()

    try:
        result = asyncio.run(run())
    except VulnDBImportError as exc:
        fail(f"vulnerability database not imported ({exc}); the current version is unchanged")
    typer.echo(
        f"vulnerability database version {result.db_version}: {result.records} records "
        f"imported, {result.skipped} skipped"
    )
