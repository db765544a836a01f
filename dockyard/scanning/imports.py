"""A vulnerability database import and what follows it: SCANNER_UPDATE_COMPLETED (success or
not, with the live replicas and the database version each has loaded) and, after a success, a
`check` job for every scanned image. `dockyard scanner update` and the upload's import job both
go through `import_and_announce`. No HTTP here.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dockyard import __version__
from dockyard.clock import utcnow
from dockyard.events.bus import record
from dockyard.events.pipeline import scanner_update_event
from dockyard.scanning import replicas
from dockyard.scanning.service import enqueue_checks
from dockyard.scanning.vulndb import (
    ImportLimits,
    ImportResult,
    VulnDBBusyError,
    VulnDBImportError,
    current_db,
    import_osv,
)

log = logging.getLogger(__name__)

SCANNER_VERSION = f"dockyard-{__version__}"


async def announce(
    session: AsyncSession,
    *,
    success: bool,
    now: datetime,
    replica: str | None = None,
) -> int:
    """Record SCANNER_UPDATE_COMPLETED for the current database (this process's replica, if
    any, has loaded it) and, after a success, queue the re-checks. Returns the re-checks
    queued. The caller commits."""
    db = await current_db(session)
    version = db.version if db else 0
    updated_at = db.updated_at if db else None
    if replica is not None:
        await replicas.beat(session, replica, db.version if db else None, updated_at, now)
        await session.flush()
    live = await replicas.live(session, now)
    record(
        session,
        scanner_update_event(SCANNER_VERSION, updated_at, version, updated_at, success, live, now),
    )
    return await enqueue_checks(session) if success else 0


async def import_and_announce(
    sessionmaker: async_sessionmaker[AsyncSession],
    source: Path,
    *,
    replica: str | None = None,
    limits: ImportLimits | None = None,
) -> ImportResult:
    """Import `source` (S2's `import_osv`: the previous version serves until the new one is
    complete), then announce. A broken archive is announced with success false and raised;
    VulnDBBusyError (another import is running) is raised without an announcement."""
    try:
        result = await import_osv(sessionmaker, source, limits=limits or ImportLimits())
    except VulnDBBusyError:
        raise  # another import is running: nothing happened, try again later
    except VulnDBImportError as exc:
        log.warning("scanner.import.failed", extra={"error": str(exc)})
        async with sessionmaker() as session:
            await announce(session, success=False, now=utcnow(), replica=replica)
            await session.commit()
        raise
    async with sessionmaker() as session:
        checks = await announce(session, success=True, now=utcnow(), replica=replica)
        await session.commit()
    log.info(
        "scanner.import.done",
        extra={"db_version": result.db_version, "records": result.records, "checks": checks},
    )
    return result
