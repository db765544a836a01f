"""The body of a delivery in the subscription's format: MSR's JSON (the default) or a CloudEvent.

`format: "cloudevents"` (beyond MSR) sends a CloudEvents 1.0 structured-mode JSON event, built
with the CloudEvents SDK, whose `data` is the MSR `contents`:

- `id`: the delivery's `webhook-id` (the event's id, the one receivers de-duplicate on);
- `source`: the object the event is about, as MSR's `location` says it
  (`/repositories/foo/bar/tags/latest`), a URI reference relative to the registry's URL; `/` for
  registry-wide events;
- `type`: `com.mirantis.msr.` and the MSR type in lower case (`com.mirantis.msr.tag_push`); a
  REPO_EVENT's is its kind (`com.mirantis.msr.repo_created`);
- `time`: the event's `createdAt`; `subject`: `namespace/repository`, with `:tag` when the event
  has a tag (`@digest` for manifest events); `datacontenttype`: `application/json`.

Either body is signed with the same Standard Webhooks headers. No database and no HTTP here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cloudevents.core.bindings.http import to_structured_event
from cloudevents.core.v1.event import CloudEvent

from dockyard.webhooks.outbound import JSON_HEADERS, encode_body

MSR = "msr"
CLOUDEVENTS = "cloudevents"
FORMATS = (MSR, CLOUDEVENTS)
TYPE_PREFIX = "com.mirantis.msr."
CLOUDEVENTS_HEADERS = {"Content-Type": "application/cloudevents+json"}


def headers_of(fmt: str) -> dict[str, str]:
    """The constant headers of a body in this format (the Content-Type)."""
    return CLOUDEVENTS_HEADERS if fmt == CLOUDEVENTS else JSON_HEADERS


def encode(fmt: str, payload: Any, webhook_id: str) -> bytes:
    """The bytes sent (and signed) for one outbox payload in format `fmt`."""
    if fmt == CLOUDEVENTS and isinstance(payload, dict):
        return to_structured_event(cloud_event(payload, webhook_id)).body
    return encode_body(payload)


def cloud_event(payload: dict[str, Any], webhook_id: str) -> CloudEvent:
    contents = payload.get("contents")
    data = contents if isinstance(contents, dict) else {}
    attributes: dict[str, Any] = {
        "id": webhook_id,
        "source": _text(payload.get("location")) or "/",
        "type": event_type(payload),
        "time": _time(payload.get("createdAt")),
        "datacontenttype": "application/json",
    }
    subject = _subject(data)
    if subject:
        attributes["subject"] = subject
    return CloudEvent(attributes, data)


def event_type(payload: dict[str, Any]) -> str:
    kind = _text(payload.get("type")) or "event"
    contents = payload.get("contents")
    if kind == "REPO_EVENT" and isinstance(contents, dict):
        kind = _text(contents.get("event")) or kind
    return TYPE_PREFIX + kind.lower()


def _subject(data: dict[str, Any]) -> str:
    namespace, repository = _text(data.get("namespace")), _text(data.get("repository"))
    if not namespace or not repository:
        return ""
    name = f"{namespace}/{repository}"
    tag, digest = _text(data.get("tag")), _text(data.get("digest"))
    if tag:
        return f"{name}:{tag}"
    if digest:
        return f"{name}@{digest}"
    return name


def _time(value: Any) -> datetime:
    """The event's time; now if it is missing or unreadable (the attribute is optional, but an
    event without it is harder to order)."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime.now(UTC)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
