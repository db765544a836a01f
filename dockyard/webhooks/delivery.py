"""One delivery attempt: POST the signed body, classify what happened. No database here."""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass

import aiohttp

from dockyard.webhooks.retry import ErrorKind
from dockyard.webhooks.transport import BlockedAddressError, Transport

EXCERPT_BYTES = 1024
MAX_READ = 64 * 1024
JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class AttemptResult:
    status: int | None
    error_kind: ErrorKind | None
    error: str
    latency_ms: float
    excerpt: str
    retry_after: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status <= 299


def _classify(exc: BaseException) -> ErrorKind:
    if isinstance(exc, BlockedAddressError):
        return ErrorKind.BLOCKED
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return ErrorKind.TIMEOUT
    if isinstance(
        exc,
        aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError | ssl.SSLError,
    ):
        return ErrorKind.TLS
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, ssl.SSLError):
        return ErrorKind.TLS
    return ErrorKind.NETWORK


async def attempt(
    transport: Transport,
    endpoint: str,
    body: bytes,
    headers: dict[str, str],
    *,
    tls_cert: str,
    skip_tls_verification: bool,
) -> AttemptResult:
    started = time.perf_counter()
    try:
        ssl_arg = transport.ssl_for(tls_cert, skip_tls_verification)
        async with transport.session.post(
            endpoint,
            data=body,
            # Built once per job (Content-Type included): not merged again per request.
            headers=headers if "Content-Type" in headers else {**JSON, **headers},
            allow_redirects=False,
            ssl=ssl_arg,
        ) as resp:
            length = resp.content_length
            if length is not None and length <= MAX_READ:
                # Read small answers whole so the pooled connection is kept alive.
                chunk = (await resp.read())[:EXCERPT_BYTES]
            else:
                chunk = await resp.content.read(EXCERPT_BYTES)
                # A long or unsized answer: do not read it all, drop the connection.
                resp.close()
            latency = (time.perf_counter() - started) * 1000
            return AttemptResult(
                status=resp.status,
                error_kind=None,
                error="",
                latency_ms=latency,
                excerpt=chunk.decode("utf-8", errors="replace"),
                retry_after=resp.headers.get("Retry-After"),
            )
    except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
        latency = (time.perf_counter() - started) * 1000
        kind = _classify(exc)
        message = _describe(exc)
        if kind is ErrorKind.TIMEOUT:
            message = f"timed out after {latency / 1000:.1f} s"
        return AttemptResult(
            status=None,
            error_kind=kind,
            error=f"{kind.value}: {message}"[:1000],
            latency_ms=latency,
            excerpt="",
        )


def _describe(exc: BaseException) -> str:
    """A message for people: aiohttp's connector errors embed the SSL context's repr."""
    if isinstance(exc, aiohttp.ClientConnectorError) and not isinstance(
        exc, aiohttp.ClientSSLError
    ):
        reason = exc.os_error.strerror or str(exc.os_error) or type(exc.os_error).__name__
        return f"cannot connect to {exc.host}:{exc.port}: {reason}"
    return str(exc) or type(exc).__name__
