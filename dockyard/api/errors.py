"""One error envelope for /v2, /api/v0 and /enzi/v0: {"errors": [{"code", "message", "detail"}]}.

Installs exception handlers so that no request ends in an HTML page or a bare 500.
"""

from __future__ import annotations

import logging
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


def _is_registry(request: Request) -> bool:
    return request.url.path.startswith("/v2")


def _challenge_headers(request: Request, status: int) -> dict[str, str]:
    if status != 401:
        return {}
    challenge = getattr(request.app.state, "auth_challenge", None)
    if challenge is not None:
        return {"WWW-Authenticate": challenge(request)}
    return {"WWW-Authenticate": 'Basic realm="dockyard"'}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DockyardError)
    async def _dockyard_error(request: Request, exc: DockyardError) -> JSONResponse:
        headers = {**_challenge_headers(request, exc.status), **exc.headers}
        return error_response(
            exc.code, exc.message, detail=exc.detail, status=exc.status, headers=headers
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
        code = ErrorCode.NAME_INVALID if _is_registry(request) else ErrorCode.INVALID_PARAMETERS
        message = "; ".join(f"{p['field']}: {p['problem']}" for p in problems) or None
        return error_response(code, message, detail=problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            code = ErrorCode.NAME_UNKNOWN if _is_registry(request) else ErrorCode.NOT_FOUND
        elif exc.status_code == 405:
            code = ErrorCode.UNSUPPORTED if _is_registry(request) else ErrorCode.NOT_ALLOWED
        elif exc.status_code == 401:
            code = ErrorCode.UNAUTHORIZED if _is_registry(request) else ErrorCode.NOT_AUTHENTICATED
        elif exc.status_code == 403:
            code = ErrorCode.DENIED if _is_registry(request) else ErrorCode.NOT_AUTHORIZED
        else:
            code = ErrorCode.INVALID_PARAMETERS
        message = exc.detail if isinstance(exc.detail, str) else None
        headers = {**_challenge_headers(request, exc.status_code), **(exc.headers or {})}
        return error_response(code, message, status=exc.status_code, headers=headers)

    # Reached only by an exception raised outside RequestLogMiddleware (which answers the rest
    # itself, with the request id in header, body and access line).
    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        rid = request_id_var.get()
        log.exception("request.failed", extra={"path": request.url.path})
        return JSONResponse(unexpected_error_body(rid), status_code=500)
