"""JSON Schemas (draft 2020-12) of each event type's payload, served at
`/api/v0/webhooks/schemas/{type}`.

The schemas list every field dockyard sends as required; `additionalProperties` stays open,
since MSR documents its payloads as "clipped" and receivers must tolerate new fields.
"""

from __future__ import annotations

import copy
from typing import Any

from dockyard.events.types import EventType

_STR: dict[str, Any] = {"type": "string"}
_TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
_INT: dict[str, Any] = {"type": "integer"}
_DIGEST: dict[str, Any] = {
    "type": "string",
    "pattern": "^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$",
}


def _obj(props: dict[str, Any], description: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": props,
        "required": list(props),
        "additionalProperties": True,
    }
    if description:
        schema["description"] = description
    return schema


def _image_fields(time_field: str | None, *, tag: bool = True) -> dict[str, Any]:
    props: dict[str, Any] = {"namespace": _STR, "repository": _STR}
    if tag:
        props["tag"] = _STR
    props |= {
        "digest": _DIGEST,
        "imageName": _STR,
        "os": _STR,
        "architecture": _STR,
        "author": _STR,
    }
    if time_field:
        props[time_field] = _TIME
    return props


_MIRRORING = _obj(
    {
        "mirroringPolicyID": _STR,
        "digest": _DIGEST,
        "remoteHost": _STR,
        "remoteRepository": _STR,
        "remoteTag": _STR,
    }
)

_CONTENTS: dict[EventType, dict[str, Any]] = {
    EventType.TAG_PUSH: _obj(_image_fields("pushedAt")),
    EventType.TAG_PULL: _obj(_image_fields("pulledAt")),
    EventType.TAG_DELETE: _obj(_image_fields("deletedAt")),
    EventType.MANIFEST_PUSH: _obj(_image_fields("pushedAt", tag=False)),
    EventType.MANIFEST_PULL: _obj(_image_fields("pulledAt", tag=False)),
    EventType.MANIFEST_DELETE: _obj(_image_fields("deletedAt", tag=False)),
    EventType.SCAN_COMPLETED: _obj(
        {
            "namespace": _STR,
            "repository": _STR,
            "tag": _STR,
            "imageName": _STR,
            "scanSummary": _obj(
                {
                    "namespace": _STR,
                    "repository": _STR,
                    "tag": _STR,
                    "critical": _INT,
                    "major": _INT,
                    "minor": _INT,
                    "last_scan_status": {"type": "integer", "minimum": 0, "maximum": 6},
                    "check_completed_at": _TIME,
                }
            ),
        }
    ),
    EventType.SCAN_FAILED: _obj(
        {"namespace": _STR, "repository": _STR, "tag": _STR, "imageName": _STR, "error": _STR}
    ),
    EventType.PROMOTION: _obj(
        _image_fields("promotedAt")
        | {
            "promotion": _obj(
                {
                    "promotionPolicyID": _STR,
                    "sourceRepository": _STR,
                    "sourceTag": _STR,
                    "targetRepository": _STR,
                    "targetTag": _STR,
                }
            )
        }
    ),
    EventType.PUSH_MIRRORING: _obj(_image_fields("mirroredAt") | {"mirroring": _MIRRORING}),
    EventType.POLL_MIRRORING: _obj(_image_fields("mirroredAt") | {"mirroring": _MIRRORING}),
    EventType.REPO_EVENT: _obj(
        {
            "namespace": _STR,
            "repository": _STR,
            "event": {"enum": ["REPO_CREATED", "REPO_UPDATED", "REPO_DELETED"]},
            "author": _STR,
            "data": {"type": ["object", "null"]},
        }
    ),
    EventType.SCANNER_UPDATE_COMPLETED: _obj(
        {
            "scanner_version": _STR,
            "scanner_updated_at": _TIME,
            "db_version": _INT,
            "db_updated_at": _TIME,
            "success": {"type": "boolean"},
            "replicas": {
                "type": "object",
                "additionalProperties": _obj(
                    {"db_updated_at": _TIME, "version": _STR, "replica_id": _STR}
                ),
            },
        }
    ),
}


def event_schema(event_type: EventType) -> dict[str, Any]:
    """The full payload schema: the MSR wrapper around this type's `contents`."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"/api/v0/webhooks/schemas/{event_type.value}",
        "title": f"dockyard {event_type.value} webhook payload",
        "type": "object",
        "properties": {
            "type": {"const": event_type.value},
            "createdAt": _TIME,
            "contents": copy.deepcopy(_CONTENTS[event_type]),
            "location": _STR,
        },
        "required": ["type", "createdAt", "contents", "location"],
        "additionalProperties": False,
    }
