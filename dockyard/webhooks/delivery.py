"""One delivery attempt: POST the signed body, classify what happened. No database here."""

from __future__ import annotations

import os
import re
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
    tls_client_sealed: str = "",
) -> AttemptResult:
    started = time.perf_counter()
    try:
        ssl_arg = transport.ssl_for(tls_cert, skip_tls_verification, tls_client_sealed)
        async with transport.session.post(
            endpoint,
            data=body,
            # Built once per job (Content-Type included): not merged again per request.
            headers=headers if "Content-Type" in headers else {**JSON, **headers},
            allow_redirects=False,
            ssl=ssl_arg,
            timeout=transport.timeout,
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


# aiohttp's connector errors name the SSL argument: `ssl:<ssl.SSLContext object at 0x…>`,
# `ssl:default`, `ssl:True`. Meaningless to people, and an address in memory.
_SSL_ARG = re.compile(r"\s*ssl:(?:<[^>]*>|default|True|False|None)")
# OpenSSL wraps its reason: `[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)`.
_SSL_CODE = re.compile(r"^\[SSL(?:: [A-Z0-9_]+)?\]\s*|\s*\(_ssl\.c:\d+\)$")


def ssl_reason(err: ssl.SSLError) -> str:
    """OpenSSL's reason in words: `certificate verify failed: self-signed certificate`."""
    verify_message = getattr(err, "verify_message", None)
    if isinstance(verify_message, str) and verify_message:
        return f"certificate verify failed: {verify_message}"
    strerror = getattr(err, "strerror", None)
    text = strerror if isinstance(strerror, str) and strerror else str(err)
    reason = getattr(err, "reason", None)
    return (
        _SSL_CODE.sub("", text).strip()
        or (reason if isinstance(reason, str) else "")
        or (type(err).__name__)
    )


def _ssl_error_of(exc: BaseException) -> ssl.SSLError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        # aiohttp's certificate error is itself an SSLCertVerificationError without the
        # details: the one it wraps has them.
        inner = getattr(current, "certificate_error", None) or getattr(current, "os_error", None)
        if isinstance(inner, ssl.SSLError):
            return inner
        if isinstance(current, ssl.SSLError):
            return current
        current = current.__cause__ or current.__context__
    return None


def _os_reason(err: OSError) -> str:
    # asyncio's "Connect call failed ('127.0.0.1', 9)" repeats the address: the errno's own
    # words ("Connection refused") say it once.
    if isinstance(err, ConnectionError) and isinstance(err.errno, int) and err.errno > 0:
        return os.strerror(err.errno)
    return err.strerror or str(err) or type(err).__name__


def _describe(exc: BaseException) -> str:
    """A message for people, without the kind (the caller prefixes it once)."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        where = f"{exc.host}:{exc.port}"
        tls = _ssl_error_of(exc)
        if tls is not None:
            return f"{ssl_reason(tls)} ({where})"
        return f"cannot connect to {where}: {_os_reason(exc.os_error)}"
    tls = _ssl_error_of(exc)
    if tls is not None:
        return ssl_reason(tls)
    return _SSL_ARG.sub("", str(exc)).strip() or type(exc).__name__


def failure_message(result: AttemptResult) -> str:
    """One sentence about a failed test delivery, each fact once: the status the receiver
    answered, or what went wrong on the way (its kind once), and how long it took."""
    took = f"{result.latency_ms:.0f} ms"
    if result.status is not None:
        return f"The endpoint answered {result.status} after {took}; only 2xx counts as success."
    error = result.error.rstrip(". ")
    if result.error_kind is ErrorKind.TIMEOUT:
        return f"The test delivery failed: {error}."  # the error says how long already
    return f"The test delivery failed after {took}: {error}."
