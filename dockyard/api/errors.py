"""One error envelope for /v2, /api/v0 and /enzi/v0: {"errors": [{"code", "message", "detail"}]}.

Installs exception handlers so that no request ends in an HTML page or a bare 500. Each
application speaks its own dialect (`ErrorDialect`): the MSR codes and a Basic challenge here,
the OCI codes and the registry's challenge on the /v2 application. Nothing here asks a path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from dockyard.errors import DockyardError, ErrorCode, default_message, status_for
from dockyard.logging import request_id_var

log = logging.getLogger(__name__)


def error_body(code: ErrorCode | str, message: str, detail: Any = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"code": str(code), "message": message}
    if detail is not None:
        entry["detail"] = detail
    return {"errors": [entry]}


def unexpected_error_body(request_id: str) -> dict[str, Any]:
    """The 500 envelope: no internals, only the id that finds the logged stack."""
    return error_body(
        ErrorCode.INTERNAL_ERROR,
        f"An internal error occurred (request id {request_id}).",
        {"requestId": request_id},
    )


def error_response(
    code: ErrorCode,
    message: str | None = None,
    *,
    detail: Any = None,
    status: int | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        error_body(code, message or default_message(code), detail),
        status_code=status if status is not None else status_for(code),
        headers=headers,
    )


def basic_challenge(request: Request) -> str:
    return 'Basic realm="dockyard"'


@dataclass(frozen=True)
class ErrorDialect:
    """How one application names what the framework and shared code report: a missing route,
    a method it lacks, a failed validation, a 401 or 403, and the challenge sent with a 401.
    `renamed`: codes that shared code (authentication) raises, in this application's words."""

    not_found: ErrorCode = ErrorCode.NOT_FOUND
    not_allowed: ErrorCode = ErrorCode.NOT_ALLOWED
    unauthenticated: ErrorCode = ErrorCode.NOT_AUTHENTICATED
    forbidden: ErrorCode = ErrorCode.NOT_AUTHORIZED
    invalid: ErrorCode = ErrorCode.INVALID_PARAMETERS
    renamed: Mapping[ErrorCode, ErrorCode] = field(default_factory=dict)
    challenge: Callable[[Request], str] = basic_challenge

    def http_code(self, status: int) -> ErrorCode:
        by_status = {
            404: self.not_found,
            405: self.not_allowed,
            401: self.unauthenticated,
            403: self.forbidden,
        }
        return by_status.get(status, ErrorCode.INVALID_PARAMETERS)


MSR_DIALECT = ErrorDialect()


def install_error_handlers(app: FastAPI, dialect: ErrorDialect = MSR_DIALECT) -> None:
    def challenge_headers(request: Request, status: int) -> dict[str, str]:
        return {"WWW-Authenticate": dialect.challenge(request)} if status == 401 else {}

    @app.exception_handler(DockyardError)
    async def _dockyard_error(request: Request, exc: DockyardError) -> JSONResponse:
        headers = {**challenge_headers(request, exc.status), **exc.headers}
        code = dialect.renamed.get(exc.code, exc.code)
        return error_response(
            code, exc.message, detail=exc.detail, status=exc.status, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"),
                "problem": err.get("msg", ""),
            }
            for err in exc.errors()
        ]
        if any(err.get("type") == "json_invalid" for err in exc.errors()):
            return error_response(ErrorCode.INVALID_JSON, detail=problems)
        message = "; ".join(f"{p['field']}: {p['problem']}" for p in problems) or None
        return error_response(dialect.invalid, message, detail=problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = dialect.http_code(exc.status_code)
        message = exc.detail if isinstance(exc.detail, str) else None
        headers = {**challenge_headers(request, exc.status_code), **(exc.headers or {})}
        return error_response(code, message, status=exc.status_code, headers=headers)

    # Reached only by an exception raised outside UnhandledErrorMiddleware (which answers the
    # rest itself, with the request id in header and body).
    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        rid = request_id_var.get()
        log.exception("request.failed", extra={"path": request.url.path})
        return JSONResponse(unexpected_error_body(rid), status_code=500)
