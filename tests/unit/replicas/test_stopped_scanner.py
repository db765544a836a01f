"""A scanner stopped cleanly (its worker got SIGTERM) gives the scan jobs it held back at once,
so another replica claims them without waiting for their lease to end."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from dockyard.clock import utcnow
from dockyard.config import Settings
from dockyard.db.migrate import upgrade
from dockyard.scanning.models import ScanJob, ScannerReplica
from dockyard.scanning.worker import ScanWorker, run_scanner
from dockyard.services import build_services


async def test_a_stopped_scanner_gives_its_jobs_back(tmp_path: Path, database_url: str) -> None:
    await asyncio.to_thread(upgrade, database_url)
    services = build_services(Settings(data_dir=tmp_path / "data", database_url=database_url))
    replica = ScanWorker(services).replica
    scanner = asyncio.create_task(run_scanner(services))
    try:
        for _ in range(500):  # running once its first heartbeat is written
            async with services.session() as session:
                if await session.get(ScannerReplica, replica) is not None:
                    break
            await asyncio.sleep(0.02)
        async with services.session() as session:
            session.add(
                ScanJob(
                    kind="import",
                    source="held.zip",
                    claimed_by=replica,
                    lease_token="held",
                    next_attempt_at=utcnow() + timedelta(hours=1),
                )
            )
            await session.commit()
        scanner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await scanner
        async with services.session() as session:
            job = await session.scalar(select(ScanJob))
        assert job is not None
        assert (job.claimed_by, job.lease_token) == ("", None)
        assert job.next_attempt_at <= utcnow()
    finally:
        scanner.cancel()
        await services.close()
