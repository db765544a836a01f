"""JSON Schemas (draft 2020-12) of each event type's payload, served at
`/api/v0/webhooks/schemas/{type}`, generated from the payload models in `payloads.py`.

Every field dockyard sends is required; `contents` stays open (`additionalProperties`), since MSR
documents its payloads as "clipped" and receivers must tolerate new fields. Nested objects are
written inline, as a consumer reads them, rather than as `$ref`s. No HTTP here.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from pydantic.json_schema import GenerateJsonSchema

from dockyard.events.payloads import payload_model
from dockyard.events.samples import sample_payload
from dockyard.events.types import PAYLOAD_CONTENTS, EventType


class _SchemaGenerator(GenerateJsonSchema):
    """Pydantic's draft 2020-12 generator, without a title on every field (they only repeat
    the field's name)."""

    def field_title_should_be_set(self, schema: object) -> bool:
        return False


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """The same schema with each `{"$ref": "#/$defs/X"}` replaced by X (the models nest but
    never recurse)."""
    defs: dict[str, Any] = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                target = defs[node["$ref"].removeprefix("#/$defs/")]
                siblings = {k: v for k, v in node.items() if k != "$ref"}
                return resolve(target) | siblings
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


@functools.cache
def _schema(event_type: EventType) -> dict[str, Any]:
    model = payload_model(PAYLOAD_CONTENTS[event_type])
    generated = _inline_refs(model.model_json_schema(schema_generator=_SchemaGenerator))
    generated["properties"]["type"] = {"const": event_type.value}
    del generated["title"]  # the parametrized class's name, Payload[...]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"/api/v0/webhooks/schemas/{event_type.value}",
        "title": f"dockyard {event_type.value} webhook payload",
        "description": f"What dockyard POSTs for a {event_type.value} event.",
        **generated,
        "examples": [sample_payload(event_type)],
    }


def event_schema(event_type: EventType) -> dict[str, Any]:
    """The full payload schema: the MSR wrapper around this type's `contents` (a fresh copy)."""
    return copy.deepcopy(_schema(event_type))
