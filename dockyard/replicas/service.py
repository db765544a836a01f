"""Replicas: each process's heartbeat row, and the list administrators read. No HTTP here.

A process beats every HEARTBEAT_SECONDS; one silent for LIVE_SECONDS is down (killed, or its
host gone); one silent for FORGET_SECONDS is deleted by the next beat of any replica. Ids come
from the node id kept in the data folder (`scanning.replicas.replica_id`), so a worker process
and its scanner share an id and a restarted worker keeps its row.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard import __version__
from dockyard.replicas.models import Replica
from dockyard.scanning import replicas as scanner_replicas
from dockyard.scanning.models import ScannerReplica

HEARTBEAT_SECONDS = scanner_replicas.HEARTBEAT_SECONDS
LIVE_SECONDS = scanner_replicas.LIVE_SECONDS
# A replica down for a day is forgotten (each restart of an HTTP worker is a new id).
FORGET_SECONDS = 24 * 3600.0
ROLES = ("api", "worker", "all")


@dataclass(frozen=True)
class Identity:
    """Who beats: the row's id, and what it says about the process."""

    id: str
    role: str
    host: str
    pid: int
    # The scanner replica whose database version this process reports (None: no scanner).
    scanner_id: str | None = None


def identity(data_dir: Path, role: str) -> Identity:
    """A worker process is `<node>-worker` (its scanner's id); any other process, of which a
    node runs several, adds its pid."""
    if role not in ROLES:
        raise ValueError(f"unknown replica role {role!r}")
    pid = os.getpid()
    node = scanner_replicas.replica_id(data_dir, role)
    rid = node if role == "worker" else f"{node}-{pid}"
    # The scanner runs as `<node>-worker` wherever it runs (scanning.worker's default role).
    scanner = None if role == "api" else scanner_replicas.replica_id(data_dir, "worker")
    return Identity(rid, role, socket.gethostname()[:255], pid, scanner)


async def beat(session: AsyncSession, me: Identity, started_at: datetime, now: datetime) -> None:
    """Upsert this process's row (with its scanner's database version) and forget replicas
    long gone. The caller commits."""
    row = await session.get(Replica, me.id)
    if row is None:
        row = Replica(id=me.id)
        session.add(row)
    row.host, row.pid, row.role, row.version = me.host, me.pid, me.role, __version__
    row.started_at = started_at
    row.last_seen_at = now
    if me.scanner_id is not None:
        row.db_version = await session.scalar(
            select(ScannerReplica.db_version).where(ScannerReplica.replica_id == me.scanner_id)
        )
    await session.execute(
        delete(Replica).where(Replica.last_seen_at < now - timedelta(seconds=FORGET_SECONDS))
    )


async def leave(session: AsyncSession, me: Identity) -> None:
    """A process stopping cleanly removes its row. The caller commits."""
    await session.execute(delete(Replica).where(Replica.id == me.id))


@dataclass(frozen=True)
class ReplicaView:
    row: Replica
    live: bool


async def listing(session: AsyncSession, now: datetime) -> list[ReplicaView]:
    """Every known replica, live or down, workers first then by id."""
    rows = await session.scalars(select(Replica).order_by(Replica.role.desc(), Replica.id))
    since = now - timedelta(seconds=LIVE_SECONDS)
    return [ReplicaView(row, row.last_seen_at >= since) for row in rows]
