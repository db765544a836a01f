"""Error texts of delivery attempts: each fact once, OpenSSL's reason in words, never the repr
of a Python object (aiohttp's `ssl:<ssl.SSLContext object at 0x…>`)."""

from __future__ import annotations

import asyncio
import socket
import ssl

import pytest
import trustme

from dockyard.webhooks.delivery import AttemptResult, attempt, failure_message, ssl_reason
from dockyard.webhooks.retry import ErrorKind
from dockyard.webhooks.transport import Transport
from tests.fakes.receiver import Receiver, ca_pem


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _send(url: str, *, tls_cert: str = "") -> AttemptResult:
    transport = Transport(
        blocked_networks="",
        concurrency=4,
        per_endpoint=2,
        connect_timeout=5,
        total_timeout=10,
    )
    try:
        return await attempt(
            transport, url, b"{}", {}, tls_cert=tls_cert, skip_tls_verification=False
        )
    finally:
        await transport.close()


def test_refused_connection_says_it_once() -> None:
    port = _closed_port()
    result = asyncio.run(_send(f"http://127.0.0.1:{port}/hook"))
    assert result.error_kind is ErrorKind.NETWORK
    assert result.error == f"network: cannot connect to 127.0.0.1:{port}: Connection refused"
    message = failure_message(result)
    assert message.startswith("The test delivery failed after ") and message.endswith(
        f"ms: network: cannot connect to 127.0.0.1:{port}: Connection refused."
    )
    assert message.count("network") == 1 and message.count("127.0.0.1") == 1


@pytest.mark.parametrize("pinned", [False, True])
def test_untrusted_certificate_reads_as_tls(pinned: bool) -> None:
    with Receiver(tls=trustme.CA()) as rx:
        # Pinned to another CA (an SSLContext of ours), or the system's trust store.
        cert = ca_pem(trustme.CA()) if pinned else ""
        result = asyncio.run(_send(rx.url(), tls_cert=cert))
    assert result.error_kind is ErrorKind.TLS
    assert result.error == (
        f"tls: certificate verify failed: unable to get local issuer certificate "
        f"(127.0.0.1:{rx.port})"
    ), result.error
    for bad in ("SSLContext", "object at", "0x", "ssl:", "_ssl.c", "[SSL"):
        assert bad not in result.error


def test_tls_to_a_plain_http_port() -> None:
    with Receiver() as rx:
        result = asyncio.run(_send(rx.url().replace("http://", "https://")))
    assert result.error_kind is ErrorKind.TLS
    assert result.error.startswith("tls: "), result.error
    assert "wrong version number" in result.error
    assert "[SSL" not in result.error and "_ssl.c" not in result.error


def test_ssl_reason() -> None:
    err = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)")
    assert ssl_reason(err) == "wrong version number"
    verify = ssl.SSLCertVerificationError(
        1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate"
    )
    verify.verify_message = "self-signed certificate"
    assert ssl_reason(verify) == "certificate verify failed: self-signed certificate"


def test_failure_messages() -> None:
    answered = AttemptResult(503, None, "", 12.4, "busy")
    assert failure_message(answered) == (
        "The endpoint answered 503 after 12 ms; only 2xx counts as success."
    )
    timeout = AttemptResult(None, ErrorKind.TIMEOUT, "timeout: timed out after 15.0 s", 15000, "")
    assert failure_message(timeout) == "The test delivery failed: timeout: timed out after 15.0 s."
    blocked = AttemptResult(
        None, ErrorKind.BLOCKED, "blocked: x.test resolves only to blocked addresses", 3, ""
    )
    assert failure_message(blocked) == (
        "The test delivery failed after 3 ms: blocked: x.test resolves only to blocked addresses."
    )
