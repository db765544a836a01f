"""Pure ASGI middleware: a request id and one structured log line per request, the last-resort
answer to an unhandled exception, and the size limit on request bodies outside /v2.

Pure ASGI (not BaseHTTPMiddleware) so blob streams and zero-copy file responses pass through
untouched.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dockyard.api.errors import error_body, unexpected_error_body
from dockyard.errors import ErrorCode, default_message, status_for
from dockyard.logging import request_id_var
from dockyard.storage import space

log = logging.getLogger("dockyard.access")
errors_log = logging.getLogger("dockyard.api.errors")


async def _send_json(send: Send, status: int, body: dict[str, Any], *, close: bool = False) -> None:
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    if close:
        # The request body was not (fully) read: the connection cannot carry another request.
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class RequestLogMiddleware:
    """Outermost of ours: every response carries `X-Request-Id`, every request gets one access
    line with the status sent. An exception that nothing handled ends here, not in Starlette's
    ServerErrorMiddleware, which would answer outside this wrapper (no id, status 0 logged)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = uuid.uuid4().hex[:16]
        token = request_id_var.set(rid)
        started = time.perf_counter()
        status = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers: list[Any] = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            if status:
                # The response has begun: too late for an error body. The server drops the
                # connection, which tells the client the response is incomplete.
                errors_log.exception("request.failed", extra={"path": scope["path"]})
                raise
            # A full disk (blob files or the database) is the operator's to fix, not a bug:
            # 507 says so to the client, and /health reports it for a while.
            if space.note_write_failure(exc):
                errors_log.error(
                    "storage.full", extra={"path": scope["path"], "error": str(exc)[:300]}
                )
                code = ErrorCode.DISK_FULL
                await _send_json(
                    send_wrapper,
                    status_for(code),
                    error_body(code, default_message(code)),
                    close=True,
                )
            else:
                errors_log.exception("request.failed", extra={"path": scope["path"]})
                await _send_json(send_wrapper, 500, unexpected_error_body(rid), close=True)
        finally:
            log.info(
                "http.request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            request_id_var.reset(token)


class _BodyTooLarge(Exception):
    """Raised from `receive` when a body grows past the limit; turned into a 413 below."""


class BodyLimitMiddleware:
    """Refuse request bodies over `max_bytes` everywhere but /v2 (blob uploads stream to disk and
    manifests have their own limit), so no handler ever parses an unbounded JSON document.

    A declared Content-Length over the limit is answered before any byte is read; a chunked body
    is counted as it arrives and cut at the limit, whatever the handler was doing with it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path == "/v2" or path.startswith("/v2/"):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send)
            return

        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                # Whatever the app made of the cut-off body (FastAPI calls it a parse error),
                # the client hears 413 from us instead.
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        code = ErrorCode.REQUEST_TOO_LARGE
        body = error_body(
            code,
            f"The request body is larger than {self.max_bytes} bytes.",
            {"limit": self.max_bytes},
        )
        await _send_json(send, status_for(code), body, close=True)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
