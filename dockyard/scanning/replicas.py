"""Scanner replicas: each running scanner process (one per `dockyard worker`, or the HTTP
process when it runs the workers itself) under a stable id, the database version it has loaded,
and a heartbeat; SCANNER_UPDATE_COMPLETED and the status API list the live ones. No HTTP here.
"""

from __future__ import annotations

import socket
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.events.pipeline import ReplicaUpdate
from dockyard.scanning.models import ScannerReplica

ID_FILE = "scanner-replica-id"
HEARTBEAT_SECONDS = 10.0
# A replica silent for this long is gone (a stopped or killed process).
LIVE_SECONDS = 60.0


def replica_id(data_dir: Path, role: str) -> str:
    """`<id>-<role>`: the id is generated once into the data folder per host, so a restarted
    process keeps its entry (nodes sharing a data folder differ by host name; the role tells a
    node's processes apart)."""
    host = "".join(c for c in socket.gethostname() if c.isalnum() or c in "-.")[:64] or "host"
    path = data_dir / f"{ID_FILE}.{host}"
    try:
        value = path.read_text().strip()
    except FileNotFoundError:
        value = ""
    if not value:
        value = uuid.uuid4().hex[:12]
        tmp = path.with_suffix(".tmp")
        tmp.write_text(value + "\n")
        tmp.replace(path)
        value = path.read_text().strip()
    return f"{value}-{role}"


async def beat(
    session: AsyncSession,
    rid: str,
    db_version: int | None,
    db_updated_at: datetime | None,
    now: datetime,
) -> None:
    """Upsert this replica's row. The caller commits."""
    row = await session.get(ScannerReplica, rid)
    if row is None:
        row = ScannerReplica(replica_id=rid)
        session.add(row)
    row.db_version = db_version
    row.db_updated_at = db_updated_at
    row.heartbeat_at = now


async def live(session: AsyncSession, now: datetime) -> list[ReplicaUpdate]:
    rows = await session.scalars(
        select(ScannerReplica)
        .where(ScannerReplica.heartbeat_at >= now - timedelta(seconds=LIVE_SECONDS))
        .order_by(ScannerReplica.replica_id)
    )
    return [
        ReplicaUpdate(
            replica_id=r.replica_id,
            version="" if r.db_version is None else str(r.db_version),
            db_updated_at=r.db_updated_at,
        )
        for r in rows
    ]
