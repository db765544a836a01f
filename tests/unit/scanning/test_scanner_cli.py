"""`dockyard scanner update PATH`: an offline database import from the command line, announced
like an upload (SCANNER_UPDATE_COMPLETED, success or not); a broken bundle exits 1 and the
current version stays."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from dockyard.db.engine import create_engine, create_sessionmaker
from dockyard.events.models import OutboxEvent
from dockyard.scanning.vulndb import current_db
from tests.fakes import osv

REPO = Path(__file__).resolve().parents[3]


def run_update(database_url: str, data_dir: Path, source: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DOCKYARD_DATA_DIR": str(data_dir),
        "DOCKYARD_DATABASE_URL": database_url,
    }
    return subprocess.run(
        [sys.executable, "-m", "dockyard", "scanner", "update", str(source)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


async def state(database_url: str) -> tuple[int | None, list[bool]]:
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            db = await current_db(session)
            events = (
                await session.scalars(
                    select(OutboxEvent)
                    .where(OutboxEvent.type == "SCANNER_UPDATE_COMPLETED")
                    .order_by(OutboxEvent.seq)
                )
            ).all()
    finally:
        await engine.dispose()
    return (db.version if db else None), [e.payload["contents"]["success"] for e in events]


def test_scanner_update_imports_and_announces(database_url: str, tmp_path: Path) -> None:
    done = run_update(database_url, tmp_path / "data", osv.write_zip(tmp_path / "all.zip"))
    assert done.returncode == 0, done.stderr
    assert f"vulnerability database version 1: {len(osv.RECORDS) - 1} records imported" in (
        done.stdout
    )
    assert asyncio.run(state(database_url)) == (1, [True])

    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"this is no archive at all" * 10)
    failed = run_update(database_url, tmp_path / "data", broken)
    assert failed.returncode == 1
    assert "vulnerability database not imported" in failed.stderr
    assert "the current version is unchanged" in failed.stderr
    assert asyncio.run(state(database_url)) == (1, [True, False])
