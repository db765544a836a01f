"""Outbound HTTP for webhooks: one pooled aiohttp session, per-webhook TLS, the SSRF policy.

The SSRF check (`kit.ssrf`, shared with mirroring's OCI client) runs on the addresses the
connector is about to connect to (a resolver that drops blocked addresses from each DNS answer;
IP literals are checked as the request starts), so a DNS answer that changes after the
subscription was created cannot reach a blocked network.
Redirects are never followed. No database here.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
import unicodedata
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import idna
from cachetools import LRUCache

from dockyard import __version__
from dockyard.errors import DockyardError, ErrorCode
from dockyard.kit.sealing import Sealer, SealError
from dockyard.kit.ssrf import (
    BlockedAddressError,
    GuardedResolver,
    Network,
    is_blocked,
    literal_guard,
    parse_networks,
)
from dockyard.webhooks.client_certs import load_into, open_sealed

# The SSRF guard's names stay importable from here (the webhooks' and their tests' imports).
__all__ = [
    "USER_AGENT",
    "BlockedAddressError",
    "GuardedResolver",
    "Network",
    "Transport",
    "check_endpoint_allowed",
    "is_blocked",
    "parse_networks",
    "validate_endpoint",
    "validate_tls_cert",
]

USER_AGENT = f"dockyard/{__version__}"


def _bad_endpoint(message: str, endpoint: str) -> DockyardError:
    return DockyardError(
        ErrorCode.INVALID_WEBHOOK_ENDPOINT,
        message,
        detail={"field": "endpoint", "value": endpoint[:200]},
    )


def _refused_character(endpoint: str) -> str | None:
    """The first control, format, unassigned or whitespace character, if any: urlsplit would
    silently drop some of them (tab, newline) and aiohttp would refuse the rest at delivery."""
    for ch in endpoint:
        category = unicodedata.category(ch)
        if category[0] in ("C", "Z"):
            return ch
    return None


_ASCII_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?")
_NUMERIC_LABEL = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)")


def _check_host(host: str, endpoint: str) -> None:
    """An IP literal, or a DNS name of at most 253 characters whose labels are 1..63
    characters (RFC 1035); non-ASCII names must be valid IDNA 2008 (UTS #46), as aiohttp
    encodes them the same way when it connects."""
    if ":" in host:  # a bracketed IPv6 literal (urlsplit already checked the brackets)
        try:
            ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise _bad_endpoint("endpoint has an invalid IPv6 address.", endpoint) from exc
        return
    name = host[:-1] if host.endswith(".") else host
    labels = name.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        # Shorthand and out-of-range IPv4 forms ("1.2.3", "0x7f.1", "256.0.0.1") are refused.
        try:
            ipaddress.IPv4Address(name)
        except ValueError as exc:
            raise _bad_endpoint("endpoint has an invalid IPv4 address.", endpoint) from exc
        return
    if not name.isascii():
        try:
            name = idna.encode(name, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError) as exc:
            raise _bad_endpoint(
                "endpoint host is not a valid internationalized domain name.", endpoint
            ) from exc
        labels = name.split(".")
    for label in labels:
        if not label:
            raise _bad_endpoint("endpoint host has an empty label.", endpoint)
        if len(label) > 63:
            raise _bad_endpoint("endpoint host has a label longer than 63 characters.", endpoint)
        # Underscores are not hostname characters, but internal names (compose services) use
        # them and resolvers accept them.
        if not _ASCII_LABEL.fullmatch(label.lower()):
            raise _bad_endpoint(
                "endpoint host may hold only letters, digits, '-' and '_' in each label.",
                endpoint,
            )
        if label.lower().startswith("xn--"):
            try:
                idna.decode(label)
            except (idna.IDNAError, UnicodeError) as exc:
                raise _bad_endpoint(
                    "endpoint host is not a valid internationalized domain name.", endpoint
                ) from exc
    if len(name) > 253:
        raise _bad_endpoint("endpoint host is longer than 253 characters.", endpoint)


def validate_endpoint(endpoint: Any) -> str:
    if not isinstance(endpoint, str) or not endpoint:
        raise DockyardError(
            ErrorCode.INVALID_WEBHOOK_ENDPOINT,
            "endpoint must be an http:// or https:// URL.",
            detail={"field": "endpoint"},
        )
    if len(endpoint) > 2048:
        raise _bad_endpoint("endpoint is longer than 2048 characters.", endpoint)
    bad = _refused_character(endpoint)
    if bad is not None:
        raise _bad_endpoint(
            f"endpoint must not contain spaces or control characters (found U+{ord(bad):04X}).",
            endpoint,
        )
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname
    except ValueError as exc:  # e.g. an unclosed "[::1"
        raise _bad_endpoint(f"endpoint is not a valid URL: {exc}.", endpoint) from exc
    if parts.scheme not in ("http", "https") or not host:
        raise _bad_endpoint("endpoint must be an http:// or https:// URL with a host.", endpoint)
    try:
        _ = parts.port
    except ValueError as exc:
        raise _bad_endpoint("endpoint has an invalid port.", endpoint) from exc
    if parts.username or parts.password:
        raise DockyardError(
            ErrorCode.INVALID_WEBHOOK_ENDPOINT,
            "endpoint must not carry credentials.",
            detail={"field": "endpoint"},
        )
    _check_host(host, endpoint)
    return endpoint


async def check_endpoint_allowed(endpoint: str, blocked: Sequence[Network]) -> None:
    """Create/test-time SSRF check: 400 when the endpoint resolves (now) to a blocked network.
    A name that does not resolve now is accepted; delivery will record the failure."""
    if not blocked:
        return
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return
    for info in infos:
        address = str(info[4][0])
        if is_blocked(address, blocked):
            raise DockyardError(
                ErrorCode.WEBHOOK_ENDPOINT_BLOCKED,
                f"The endpoint host {host} resolves to {address}, which is in a network "
                "blocked by DOCKYARD_WEBHOOK_BLOCKED_NETWORKS.",
                detail={"field": "endpoint", "address": address},
            )


def validate_tls_cert(pem: Any) -> str:
    """'' or a PEM certificate (the endpoint's own or its CA); anything else is a 400."""
    if pem is None or pem == "":
        return ""
    if not isinstance(pem, str) or "-----BEGIN CERTIFICATE-----" not in pem or len(pem) > 65536:
        raise DockyardError(
            ErrorCode.INVALID_TLS_CERT,
            "tlsCert must be a PEM certificate (-----BEGIN CERTIFICATE----- ...).",
            detail={"field": "tlsCert"},
        )
    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cadata=pem)
    except (ssl.SSLError, ValueError) as exc:
        raise DockyardError(
            ErrorCode.INVALID_TLS_CERT,
            "tlsCert could not be parsed as a PEM certificate.",
            detail={"field": "tlsCert", "problem": str(exc)[:200]},
        ) from exc
    return pem


class Transport:
    """The shared client session. Create inside a running event loop; `close()` when done."""

    def __init__(
        self,
        *,
        blocked_networks: str,
        concurrency: int,
        per_endpoint: int,
        connect_timeout: float,
        total_timeout: float,
        sealer: Sealer | None = None,
    ) -> None:
        # Opens subscriptions' sealed client certificates (mutual TLS); None: none are used.
        self.sealer = sealer
        self.blocked = parse_networks(blocked_networks)
        self._resolver = GuardedResolver(self.blocked)
        self._connector = aiohttp.TCPConnector(
            resolver=self._resolver,
            limit=concurrency,
            limit_per_host=per_endpoint,
            ttl_dns_cache=10,
            enable_cleanup_closed=False,
        )
        self.connect_timeout = connect_timeout
        self.timeout = aiohttp.ClientTimeout(
            total=total_timeout, sock_connect=connect_timeout, connect=connect_timeout
        )
        self.session = aiohttp.ClientSession(
            connector=self._connector,
            timeout=self.timeout,
            headers={"User-Agent": USER_AGENT},
            auto_decompress=False,
            skip_auto_headers=("Accept-Encoding",),
            trace_configs=[literal_guard(self.blocked)] if self.blocked else None,
        )
        self._default_ssl = ssl.create_default_context()
        # One context per pinned PEM, and per (PEM, verification, client certificate) for the
        # subscriptions with a client certificate; the least recently used goes first.
        self._contexts: LRUCache[str, ssl.SSLContext] = LRUCache(maxsize=1024)
        self._client_contexts: LRUCache[tuple[str, bool, str], ssl.SSLContext] = LRUCache(
            maxsize=1024
        )

    def set_total_timeout(self, total: float) -> None:
        """A new limit for each attempt from now on (webhookTimeout changed at run time); the
        connect limit stays within it. Requests pass `self.timeout` explicitly."""
        if total == self.timeout.total:
            return
        connect = min(self.connect_timeout, total)
        self.timeout = aiohttp.ClientTimeout(total=total, sock_connect=connect, connect=connect)

    def ssl_for(
        self, tls_cert: str, skip_verification: bool, client_sealed: str = ""
    ) -> ssl.SSLContext | bool:
        if client_sealed:
            return self._client_context(tls_cert, skip_verification, client_sealed)
        if skip_verification:
            return False
        if not tls_cert:
            return self._default_ssl
        ctx = self._contexts.get(tls_cert)
        if ctx is None:
            ctx = _pinned(tls_cert)
            self._contexts[tls_cert] = ctx
        return ctx

    def _client_context(self, tls_cert: str, skip: bool, sealed: str) -> ssl.SSLContext:
        """A context presenting the subscription's client certificate, cached per sealed pair
        (building one reads the key, too slow to repeat per request)."""
        key = (tls_cert, skip, sealed)
        ctx = self._client_contexts.get(key)
        if ctx is not None:
            return ctx
        if self.sealer is None:
            raise ssl.SSLError(0, "client certificates are not available in this process")
        try:
            cert_pem, key_pem = open_sealed(self.sealer, sealed)
        except (SealError, ValueError, KeyError) as exc:
            raise ssl.SSLError(0, f"the client certificate cannot be opened: {exc}") from None
        if skip:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        else:
            ctx = _pinned(tls_cert) if tls_cert else ssl.create_default_context()
        load_into(ctx, cert_pem, key_pem)
        self._client_contexts[key] = ctx
        return ctx

    async def close(self) -> None:
        await self.session.close()
        await self._resolver.close()  # the connector closes only a resolver it made itself


def _pinned(tls_cert: str) -> ssl.SSLContext:
    # cadata given: the default system roots are NOT loaded, so the PEM is the only trust root
    # for this endpoint. PARTIAL_CHAIN lets any certificate in it anchor the chain (a pinned leaf
    # or an intermediate), not only a self-signed root; the host name is still checked against
    # the endpoint.
    ctx = ssl.create_default_context(cadata=tls_cert)
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return ctx
