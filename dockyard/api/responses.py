"""The error envelope as an OpenAPI model, and the `responses=` each operation declares.

Every `/api/v0` and `/enzi/v0` operation lists the error answers it really gives (the envelope
`{"errors": [{"code", "message", "detail"}]}` with the status from `errors.ErrorCode`), so the API
explorer and generated clients show them; FastAPI's default 422 is never advertised because the
API answers validation errors with 400 `INVALID_PARAMETERS`/`INVALID_JSON`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field


class ErrorItem(BaseModel):
    code: str = Field(description="A code from the error table, e.g. NO_SUCH_REPOSITORY.")
    message: str
    detail: Any = None


class ErrorEnvelope(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "errors": [
                        {
                            "code": "NO_SUCH_REPOSITORY",
                            "message": "Repository 'acme/app' does not exist.",
                            "detail": None,
                        }
                    ]
                }
            ]
        }
    )

    errors: list[ErrorItem]


_DESCRIPTIONS = {
    400: "Invalid input (INVALID_PARAMETERS, INVALID_JSON, or a specific code).",
    401: "Not signed in (NOT_AUTHENTICATED).",
    403: "Signed in but not allowed (NOT_AUTHORIZED).",
    404: "No such resource, or one you may not see.",
    409: "Conflicts with the current state (exists already, immutable).",
    413: "Request body too large (REQUEST_TOO_LARGE).",
    429: "Too many requests; see Retry-After.",
    503: "The registry's object storage cannot be reached (STORAGE_UNAVAILABLE); retry.",
    507: "The registry's storage is full (DISK_FULL).",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for an operation that may answer these error statuses."""
    return {
        status: {"model": ErrorEnvelope, "description": _DESCRIPTIONS.get(status, "Error.")}
        for status in statuses
    }


def without_validation_422(app: FastAPI) -> None:
    """Drop FastAPI's default 422 answer (and its schemas) from the OpenAPI document: the API
    answers validation errors with 400 (`errors(400)` on each operation says so)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        for item in document.get("paths", {}).values():
            for operation in item.values():
                if isinstance(operation, dict):
                    operation.get("responses", {}).pop("422", None)
        schemas = document.get("components", {}).get("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
