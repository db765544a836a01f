"""Registry settings changed at run time, and the cluster's status. No HTTP; never commits.

A setting's value is its row in `registry_settings` when one exists, else the configured value
(defaults < YAML file < DOCKYARD_* environment): the database wins once a value is set, and
`null` in a change removes the row (back to the configured value). Every reader asks the
database when it needs the value (a PK lookup), so a change applies at once in every process;
the webhook delivery process re-reads `webhookTimeout` every few seconds.

Other domains read a setting through the small functions at the end of the settings part
(`create_repository_on_push`, `scanning_enabled`, `webhook_timeout`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.clock import rfc3339, utcnow
from dockyard.config import Settings
from dockyard.errors import DockyardError, ErrorCode
from dockyard.meta.models import RegistrySetting
from dockyard.scanning import replicas
from dockyard.scanning.models import ScannerReplica

# Bounds of webhookTimeout (seconds for one delivery attempt): above zero, and short enough that
# a hanging endpoint cannot hold a delivery's lease for long.
MAX_WEBHOOK_TIMEOUT = 300.0
SYNC_ONLINE_NOTE = (
    "stored, not applied: dockyard does not fetch vulnerability databases online; import one "
    "with PUT /api/v0/imagescan/scan/update (the admin's Vulnerability database page)"
)


@dataclass(frozen=True)
class Setting:
    """A setting the API may change: MSR's name, its kind and its configured value."""

    name: str
    kind: str  # "bool" or "seconds"
    configured: Callable[[Settings], bool | float]

    def valid(self, value: Any) -> bool:
        if self.kind == "bool":
            return isinstance(value, bool)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return math.isfinite(value) and 0 < value <= MAX_WEBHOOK_TIMEOUT

    def applied(self, stored: Any, settings: Settings) -> bool | float:
        """The stored value when it is a valid one (a row written by hand may not be), else the
        configured value."""
        if not self.valid(stored):
            return self.configured(settings)
        return bool(stored) if self.kind == "bool" else float(stored)

    @property
    def expected(self) -> str:
        if self.kind == "bool":
            return "true or false"
        return f"a number of seconds above 0 and at most {MAX_WEBHOOK_TIMEOUT:g}"


SETTABLE: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting("createRepositoryOnPush", "bool", lambda c: c.create_repository_on_push),
        Setting("scanningEnabled", "bool", lambda c: c.scanning_enabled),
        # MSR's online vulnerability database sync; accepted and stored, not built (see GET).
        Setting("scanningSyncOnline", "bool", lambda c: False),
        Setting("webhookTimeout", "seconds", lambda c: c.webhook_total_timeout),
    )
}
# Keys the GET answer carries that a change may repeat unchanged (a client that reads the
# settings, edits one and posts the whole object back) but not alter.
READ_ONLY = ("dtrHost", "logLevel")
# Keys of the GET answer that describe the node or the answer itself: a change may carry them
# with any value (another node answered the GET, or a setting changed since) and they are ignored.
DESCRIPTIVE = ("replicaID", "sources", "notImplemented")


@dataclass(frozen=True)
class Effective:
    """Every settable value as it applies now, and which of them the database holds."""

    values: Mapping[str, bool | float]
    stored: frozenset[str]

    def sources(self) -> dict[str, str]:
        return {k: "database" if k in self.stored else "config" for k in self.values}


async def _stored(session: AsyncSession, names: tuple[str, ...]) -> dict[str, Any]:
    rows = await session.execute(
        select(RegistrySetting.key, RegistrySetting.value).where(RegistrySetting.key.in_(names))
    )
    return {key: value for key, value in rows}


async def effective(session: AsyncSession, settings: Settings) -> Effective:
    stored = await _stored(session, tuple(SETTABLE))
    values: dict[str, bool | float] = {}
    held: set[str] = set()
    for name, setting in SETTABLE.items():
        values[name] = setting.applied(stored.get(name), settings)
        if name in stored and setting.valid(stored[name]):
            held.add(name)
    return Effective(values, frozenset(held))


async def current(session: AsyncSession, settings: Settings, name: str) -> bool | float:
    """One setting as it applies now (one indexed read)."""
    return SETTABLE[name].applied((await _stored(session, (name,))).get(name), settings)


async def create_repository_on_push(session: AsyncSession, settings: Settings) -> bool:
    return bool(await current(session, settings, "createRepositoryOnPush"))


async def scanning_enabled(session: AsyncSession, settings: Settings) -> bool:
    return bool(await current(session, settings, "scanningEnabled"))


async def webhook_timeout(session: AsyncSession, settings: Settings) -> float:
    return float(await current(session, settings, "webhookTimeout"))


# -- the API's view and changes -----------------------------------------------------------------


def node_replica_id(settings: Settings) -> str:
    """This node's worker replica (the delivery process, which runs the scanner): the id the
    replica records and cluster_status use. Creates the node's id file on first use."""
    return replicas.replica_id(Path(settings.data_dir), "worker")


def view(now: Effective, settings: Settings, replica: str) -> dict[str, Any]:
    """The GET answer: MSR's names for what dockyard has, and two extensions: where each value
    comes from (`sources`) and what is stored but not applied (`notImplemented`)."""
    return {
        "dtrHost": settings.registry_host,
        "replicaID": replica,
        "logLevel": settings.log_level.lower(),
        **now.values,
        "sources": now.sources(),
        "notImplemented": {"scanningSyncOnline": SYNC_ONLINE_NOTE},
    }


def check_change(body: Any, shown: Mapping[str, Any]) -> dict[str, Any]:
    """The settable keys of a change and their values (None: back to the configured value), or
    400 INVALID_SETTINGS naming every unknown, read-only or wrongly typed key. `shown` is the
    current GET answer: a read-only key repeated with its shown value is ignored, and so are
    the descriptive keys."""
    if not isinstance(body, dict):
        raise DockyardError(
            ErrorCode.INVALID_SETTINGS, "The settings change must be a JSON object."
        )
    unknown = sorted(k for k in body if k not in (*SETTABLE, *READ_ONLY, *DESCRIPTIVE))
    if unknown:
        raise DockyardError(
            ErrorCode.INVALID_SETTINGS,
            f"Unknown settings: {', '.join(unknown)[:500]}. dockyard's settings are "
            f"{', '.join(SETTABLE)}.",
            detail={"unknown": unknown[:100]},
        )
    fixed = sorted(k for k in body if k in READ_ONLY and body[k] != shown.get(k))
    if fixed:
        raise DockyardError(
            ErrorCode.INVALID_SETTINGS,
            f"Read-only settings: {', '.join(fixed)} (set in dockyard's configuration).",
            detail={"readOnly": fixed},
        )
    wrong = {
        k: SETTABLE[k].expected
        for k, v in body.items()
        if k in SETTABLE and v is not None and not SETTABLE[k].valid(v)
    }
    if wrong:
        raise DockyardError(
            ErrorCode.INVALID_SETTINGS,
            "Wrong values: " + "; ".join(f"{k} must be {what}" for k, what in wrong.items()),
            detail={"invalid": sorted(wrong)},
        )
    return {k: v for k, v in body.items() if k in SETTABLE}


async def change(session: AsyncSession, changes: Mapping[str, Any], author: str) -> None:
    """Store checked changes (`check_change`): a value upserts its row, None deletes it. Upserts
    so that two admins changing one setting at once never collide on the key."""
    now = utcnow()
    dialect = session.get_bind().dialect.name
    insert_fn: Any = pg_insert if dialect == "postgresql" else sqlite_insert
    for key, value in changes.items():
        if value is None:
            await session.execute(delete(RegistrySetting).where(RegistrySetting.key == key))
            continue
        stmt = insert_fn(RegistrySetting).values(
            key=key, value=value, updated_at=now, updated_by=author[:255]
        )
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=["key"],
                set_={"value": value, "updated_at": now, "updated_by": author[:255]},
            )
        )


# -- cluster status -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Replica:
    replica_id: str
    heartbeat_at: datetime
    healthy: bool
    db_version: int | None

    @property
    def node(self) -> str:
        return self.replica_id.rsplit("-", 1)[0]

    @property
    def role(self) -> str:
        return self.replica_id.rsplit("-", 1)[-1]


async def cluster_replicas(session: AsyncSession, now: datetime) -> list[Replica]:
    """Every worker replica that has ever beaten (the scanner's records, one per node's
    delivery process), healthy when its last heartbeat is recent."""
    live_since = now - timedelta(seconds=replicas.LIVE_SECONDS)
    rows = await session.scalars(select(ScannerReplica).order_by(ScannerReplica.replica_id))
    return [
        Replica(r.replica_id, r.heartbeat_at, r.heartbeat_at >= live_since, r.db_version)
        for r in rows
    ]


def cluster_view(found: list[Replica]) -> dict[str, Any]:
    """DTR's ClusterStatus shape (`replica_health`, `replica_timestamp`, `replica_readonly`,
    `gc_lock_holder`, `rethink_system_tables`, `current_issues`) plus `replicas`, each process
    by its replicaID."""
    stamp = rfc3339
    issues = [
        {
            "critical": False,
            "description": f"replica {r.replica_id} has not reported since {stamp(r.heartbeat_at)}",
        }
        for r in found
        if not r.healthy
    ]
    if not any(r.healthy for r in found):
        issues.insert(
            0,
            {
                "critical": True,
                "description": "no worker process is running (webhook delivery and scanning "
                "stand still): start `dockyard serve` or `dockyard worker`",
            },
        )
    return {
        "replica_health": {
            r.replica_id: "OK" if r.healthy else f"no heartbeat since {stamp(r.heartbeat_at)}"
            for r in found
        },
        "replica_timestamp": {r.replica_id: stamp(r.heartbeat_at) for r in found},
        "replica_readonly": {r.replica_id: False for r in found},
        "gc_lock_holder": "",
        "rethink_system_tables": {},
        "current_issues": issues,
        "replicas": {
            r.replica_id: {
                "replicaID": r.replica_id,
                "node": r.node,
                "role": r.role,
                "healthy": r.healthy,
                "heartbeatAt": stamp(r.heartbeat_at),
                "vulnDBVersion": r.db_version,
            }
            for r in found
        },
    }
