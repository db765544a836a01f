"""Pure ASGI middleware: a request id and one structured log line per request, the mount that
hands a path prefix (/v2) to its own application in front of the host's middleware, the
last-resort answer to an unhandled exception, and the size limit on request bodies.

Pure ASGI (not BaseHTTPMiddleware) so blob streams and zero-copy file responses (Granian's
`http.response.pathsend`) pass through untouched.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dockyard.api.errors import error_body, unexpected_error_body
from dockyard.db.transient import is_unstorable_text
from dockyard.errors import ErrorCode, default_message, status_for
from dockyard.logging import request_id_var
from dockyard.storage import space
from dockyard.storage.outage import is_storage_outage

log = logging.getLogger("dockyard.access")
errors_log = logging.getLogger("dockyard.api.errors")

# Query parameters that carry a secret (DTR clients authenticate with `?refresh_token=`): the
# access line keeps the name and drops the value.
SECRET_QUERY_PARAMETERS = frozenset({"refresh_token", "access_token", "password", "token"})
REDACTED = "[redacted]"
QUERY_LOG_LIMIT = 1000


def loggable_query(raw: bytes) -> str:
    """The query string as the access line records it: secrets redacted, bounded in length."""
    if not raw:
        return ""
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    safe = [(k, REDACTED if k.lower() in SECRET_QUERY_PARAMETERS else v) for k, v in pairs]
    return urlencode(safe)[:QUERY_LOG_LIMIT]


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


async def answer_unhandled(exc: Exception, scope: Scope, send: Send) -> None:
    """The answer to an exception nothing handled, before any response byte went out: 507 for
    a full disk (the operator's to fix, not a bug; /health reports it for a while), 503 when the
    object store cannot be reached, 400 for text the database refuses, else 500
    with the request id that finds the logged stack."""
    if space.note_write_failure(exc):
        errors_log.error("storage.full", extra={"path": scope["path"], "error": str(exc)[:300]})
        code = ErrorCode.DISK_FULL
        await _send_json(
            send, status_for(code), error_body(code, default_message(code)), close=True
        )
        return
    if is_storage_outage(exc):
        errors_log.error(
            "storage.unavailable", extra={"path": scope["path"], "error": repr(exc)[:300]}
        )
        code = ErrorCode.STORAGE_UNAVAILABLE
        await _send_json(
            send, status_for(code), error_body(code, default_message(code)), close=True
        )
        return
    if is_unstorable_text(exc):
        code = ErrorCode.INVALID_PARAMETERS
        message = "Text with a NUL character (U+0000) is not accepted."
        await _send_json(send, status_for(code), error_body(code, message), close=True)
        return
    errors_log.exception("request.failed", extra={"path": scope["path"]})
    await _send_json(send, 500, unexpected_error_body(request_id_var.get()), close=True)


class RequestLogMiddleware:
    """Outermost of ours: every response carries `X-Request-Id`, every request (the mounted
    registry's included) gets one access line with the status sent and the query string with its
    secrets redacted (`loggable_query`). An exception that nothing
    inside answered ends here, not in Starlette's ServerErrorMiddleware, which would answer
    outside this wrapper (no id, status 0 logged)."""

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
                raise
            await answer_unhandled(exc, scope, send_wrapper)
        finally:
            log.info(
                "http.request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "query": loggable_query(scope.get("query_string", b"")),
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            request_id_var.reset(token)


class UnhandledErrorMiddleware:
    """The last-resort answer (`answer_unhandled`) inside an application's own header
    middleware, so a 500 or 507 carries them too (the UI's security headers on the host, the
    API version on /v2). An exception after the response began is logged and re-raised."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            if started:
                errors_log.exception("request.failed", extra={"path": scope["path"]})
                raise
            await answer_unhandled(exc, scope, send_wrapper)


class MountMiddleware:
    """Hands every request for `prefix` or below to `mounted`, with its scope untouched (the
    registry serves the protocol's absolute /v2 paths itself); everything else goes on to the
    host application. Added outside the host's own middleware (body limit, security headers),
    so those never see the mounted application's traffic, and inside the request log, which
    sees all of it."""

    def __init__(self, app: ASGIApp, prefix: str, mounted: ASGIApp) -> None:
        self.app = app
        self.prefix = prefix.rstrip("/")
        self.mounted = mounted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path == self.prefix or path.startswith(self.prefix + "/"):
                await self.mounted(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _BodyTooLarge(Exception):
    """Raised from `receive` when a body grows past the limit; turned into a 413 below."""


class BodyLimitMiddleware:
    """Refuse request bodies over `max_bytes`, so no handler ever parses an unbounded JSON
    document. Installed on the host application only: the mounted registry never passes here
    (blob uploads stream to disk, manifests have their own limit).

    A declared Content-Length over the limit is answered before any byte is read; a chunked body
    is counted as it arrives and cut at the limit, whatever the handler was doing with it."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, overrides: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Paths that take larger bodies (an uploaded database archive), each with its own limit.
        self.overrides = overrides or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.overrides.get(scope.get("path", ""), self.max_bytes)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await self._refuse(send, limit)
            return

        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
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
            await self._refuse(send, limit)

    async def _refuse(self, send: Send, limit: int) -> None:
        code = ErrorCode.REQUEST_TOO_LARGE
        body = error_body(
            code,
            f"The request body is larger than {limit} bytes.",
            {"limit": limit},
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
