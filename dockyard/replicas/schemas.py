"""The `/api/v0/replicas` models, in MSR's camelCase, with an example for the OpenAPI document."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

_EXAMPLE: dict[str, JsonValue] = {
    "replicaID": "3f9a1c0e7b2d-worker",
    "host": "dockyard-worker-0",
    "pid": 41,
    "version": "0.1.0",
    "role": "worker",
    "status": "OK",
    "startedAt": "2026-12-01T03:00:00Z",
    "lastSeenAt": "2026-12-01T03:10:00Z",
    "dbVersion": 3,
}


class ReplicaOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    replicaID: str
    host: str
    pid: int
    version: str = Field(description="The dockyard version the process runs.")
    role: Literal["api", "worker", "all"]
    status: Literal["OK", "DOWN"] = Field(
        description="DOWN: no heartbeat for a minute (the process stopped or its host is gone)."
    )
    startedAt: datetime
    lastSeenAt: datetime
    dbVersion: int | None = Field(
        description="The vulnerability database version the process's scanner has loaded."
    )


class ReplicaList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"replicas": [_EXAMPLE]}]})

    replicas: list[ReplicaOut]
