"""MSR's checks of webhook request fields, in the words MSR answers with: the event type (aliases
included), optional strings and booleans, delivery statuses, RFC 3339 times, and JSON bodies
(too deep or malformed: INVALID_JSON). Pure: no HTTP and no database here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dockyard.errors import DockyardError, ErrorCode
from dockyard.events.types import REPO_EVENT_ALIASES, EventType

WIRE_TYPES = [t.value for t in EventType] + list(REPO_EVENT_ALIASES)
STATUSES = ("pending", "delivered", "failed")


@dataclass(frozen=True)
class ResolvedType:
    wire: str  # what the client sent (REPO_CREATED is kept as such)
    event_type: EventType
    repo_event_filter: str | None


def resolve_type(value: Any, field: str = "type") -> ResolvedType:
    if isinstance(value, str):
        if value in REPO_EVENT_ALIASES:
            return ResolvedType(value, EventType.REPO_EVENT, value)
        if value in EventType.__members__:
            return ResolvedType(value, EventType(value), None)
    raise DockyardError(
        ErrorCode.INVALID_WEBHOOK_TYPE,
        f"{field} must be one of: {', '.join(WIRE_TYPES)}.",
        detail={"field": field, "value": value if isinstance(value, str) else None},
    )


def bad_field(field: str, message: str) -> DockyardError:
    return DockyardError(ErrorCode.INVALID_PARAMETERS, message, detail={"field": field})


def require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise DockyardError(ErrorCode.INVALID_JSON, "The body must be a JSON object.")
    return body


def optional_bool(body: dict[str, Any], field: str) -> bool | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise bad_field(field, f"{field} must be true or false.")
    return value


def optional_str(body: dict[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_field(field, f"{field} must be a string.")
    return value


def status_filter(status: Any) -> str | None:
    if status in (None, "", "any"):
        return None
    if status not in STATUSES:
        raise DockyardError(
            ErrorCode.INVALID_PARAMETERS,
            f"status must be one of: {', '.join(STATUSES)}.",
            detail={"field": "status", "value": str(status)[:50]},
        )
    return str(status)


def parse_time(value: Any, field: str) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    raise DockyardError(
        ErrorCode.INVALID_PARAMETERS,
        f"{field} must be an RFC 3339 time with a zone, e.g. 2024-01-01T00:00:00Z.",
        detail={"field": field},
    )


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        # RecursionError: nesting deeper than the interpreter's stack allows is bad input too.
        raise DockyardError(ErrorCode.INVALID_JSON, detail={"problem": str(exc)[:200]}) from exc
