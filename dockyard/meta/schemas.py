"""The `/api/v0/meta` models: MSR's names for the settings dockyard has (`responses.Settings`,
`forms.Settings`) and DTR's `ClusterStatus`, each with an example for the OpenAPI document."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue


def _examples(*examples: JsonValue) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)})


_SETTINGS: dict[str, JsonValue] = {
    "dtrHost": "registry.example.com",
    "replicaID": "3f9a1c0e7b2d-worker",
    "logLevel": "info",
    "createRepositoryOnPush": True,
    "scanningEnabled": True,
    "scanningSyncOnline": False,
    "webhookTimeout": 15.0,
    "sources": {
        "createRepositoryOnPush": "config",
        "scanningEnabled": "database",
        "scanningSyncOnline": "config",
        "webhookTimeout": "config",
    },
    "notImplemented": {
        "scanningSyncOnline": "stored, not applied: dockyard does not fetch vulnerability "
        "databases online; import one with PUT /api/v0/imagescan/scan/update"
    },
}


class RegistrySettings(BaseModel):
    """What `GET /api/v0/meta/settings` answers (and `POST` after a change)."""

    model_config = _examples(_SETTINGS)

    dtrHost: str = Field(description="The host image names carry (DOCKYARD_EXTERNAL_URL).")
    replicaID: str = Field(description="This node's worker replica.")
    logLevel: str
    createRepositoryOnPush: bool = Field(
        description="A push to a missing repository creates it (else the push is refused)."
    )
    scanningEnabled: bool = Field(description="Scan on push and on demand.")
    scanningSyncOnline: bool = Field(description="Stored only: see notImplemented.")
    webhookTimeout: float = Field(description="Seconds one webhook delivery attempt may take.")
    sources: dict[str, Literal["config", "database"]] = Field(
        description="Extension: whether each value is the configured one or set through the API."
    )
    notImplemented: dict[str, str] = Field(
        description="Extension: settings accepted and stored that dockyard does not apply."
    )


class SettingsChange(BaseModel):
    """A partial `POST /api/v0/meta/settings` body: only the keys given change; `null` puts a
    setting back to its configured value. Unknown keys and wrong types: 400 INVALID_SETTINGS."""

    model_config = _examples({"createRepositoryOnPush": False, "webhookTimeout": 5})

    createRepositoryOnPush: bool | None = None
    scanningEnabled: bool | None = None
    scanningSyncOnline: bool | None = None
    webhookTimeout: float | None = Field(default=None, gt=0, le=300)


class ClusterIssue(BaseModel):
    critical: bool
    description: str


class ReplicaView(BaseModel):
    replicaID: str
    node: str = Field(description="The node's id (one per host and data folder).")
    role: str = Field(description="The process: `worker` (webhook delivery and scanning).")
    healthy: bool
    heartbeatAt: str
    vulnDBVersion: int | None


_REPLICA = "3f9a1c0e7b2d-worker"
_CLUSTER: dict[str, JsonValue] = {
    "replica_health": {_REPLICA: "OK"},
    "replica_timestamp": {_REPLICA: "2026-11-30T23:59:58.123456Z"},
    "replica_readonly": {_REPLICA: False},
    "gc_lock_holder": "",
    "rethink_system_tables": {},
    "current_issues": [],
    "replicas": {
        _REPLICA: {
            "replicaID": _REPLICA,
            "node": "3f9a1c0e7b2d",
            "role": "worker",
            "healthy": True,
            "heartbeatAt": "2026-11-30T23:59:58.123456Z",
            "vulnDBVersion": 3,
        }
    },
}


class ClusterStatus(BaseModel):
    """DTR's `ClusterStatus` (`rethink_system_tables` is always empty: there is no RethinkDB),
    with DTR 2.5's `current_issues` and the extension `replicas`."""

    model_config = _examples(_CLUSTER)

    replica_health: dict[str, str] = Field(description="`OK`, or why the replica is not.")
    replica_timestamp: dict[str, str] = Field(description="Each replica's last heartbeat.")
    replica_readonly: dict[str, bool]
    gc_lock_holder: str
    rethink_system_tables: dict[str, JsonValue]
    current_issues: list[ClusterIssue]
    replicas: dict[str, ReplicaView]
