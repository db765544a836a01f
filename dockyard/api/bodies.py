"""JSON request bodies read by hand and parsed with a Pydantic model, for routes that must keep
their own error codes (MSR's `INVALID_JSON`, `INVALID_PROMOTION_POLICY`, …) instead of
FastAPI's body parsing, and the OpenAPI `requestBody` that documents such a body.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from dockyard.errors import DockyardError, ErrorCode

M = TypeVar("M", bound=BaseModel)


def parse_json(raw: bytes, model: type[M], code: ErrorCode) -> M:
    """`raw` as `model`: 400 INVALID_JSON when it is no JSON, else 400 `code` naming the field."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise DockyardError(ErrorCode.INVALID_JSON, detail={"problem": str(exc)[:200]}) from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise DockyardError(code, f"{where}: {first.get('msg', 'invalid')}"[:300]) from exc


def json_body(model: type[M], code: ErrorCode) -> Callable[[Request], Coroutine[Any, Any, M]]:
    """A dependency giving the request body parsed by `parse_json`."""

    async def parse(request: Request) -> M:
        return parse_json(await request.body(), model, code)

    return parse


def body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` documenting a body parsed by hand: the model's schema and first example."""
    schema = model.model_json_schema()
    media = {"schema": schema, "example": (schema.get("examples") or [{}])[0]}
    return {"requestBody": {"required": True, "content": {"application/json": media}}}
