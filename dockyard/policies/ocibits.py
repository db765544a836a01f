"""The OCI client's parts: errors, TLS trust, bounded reads, the upload re-chunker. No state."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

MANIFEST_LIMIT = 4 * 1024 * 1024
JSON_LIMIT = 1024 * 1024
SEGMENT = 32 * 1024 * 1024  # bytes per PATCH of a chunked upload
TAG_PAGES = 1000
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
ACCEPT_MANIFESTS = ", ".join(MANIFEST_TYPES)


class RemoteError(Exception):
    """A remote registry could not do what was asked; the message says why."""


@dataclass(frozen=True)
class BearerToken:
    """A token from a realm, for one scope; renewed from the same realm before it expires."""

    value: str
    expires_at: float  # time.monotonic()
    realm: str
    service: str
    scope: str


class BlockedRemoteError(RemoteError):
    """The remote resolves only to addresses in a blocked network (the SSRF policy)."""


@dataclass(frozen=True)
class Permissions:
    read: bool
    write: bool


def trust(remote_ca: str, skip_verification: bool) -> ssl.SSLContext | bool:
    """As webhooks' `Transport.ssl_for`: the PEM is the only trust anchor when given."""
    if skip_verification:
        return False
    if not remote_ca:
        return ssl.create_default_context()
    try:
        ctx = ssl.create_default_context(cadata=remote_ca)
    except (ssl.SSLError, ValueError) as exc:
        raise RemoteError(f"remoteCA is not a usable PEM certificate: {exc}") from exc
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return ctx


def normalize_url(url: str) -> str:
    """`host[:port]` or an http(s) URL → the base URL (https unless http:// is given)."""
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = "https://" + url
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError as exc:
        raise RemoteError(f"{url[:200]!r} is not a registry URL: {exc}") from None
    if not url.isascii() and not url.isprintable():
        raise RemoteError(f"{url[:200]!r} is not a registry URL")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RemoteError(f"{url!r} is not a registry URL (https://host[:port])")
    return f"{parts.scheme}://{parts.netloc}"


async def read_bounded(resp: aiohttp.ClientResponse, limit: int, what: str) -> bytes:
    if resp.content_length is not None and resp.content_length > limit:
        raise RemoteError(f"the remote's {what} is larger than {limit} bytes")
    data = bytearray()
    async for chunk in resp.content.iter_chunked(65536):
        data += chunk
        if len(data) > limit:
            raise RemoteError(f"the remote's {what} is larger than {limit} bytes")
    return bytes(data)


async def error_of(resp: aiohttp.ClientResponse, doing: str) -> RemoteError:
    """`RemoteError` naming the status and the first code/message of the error envelope."""
    detail = ""
    try:
        body = json.loads(await read_bounded(resp, 65536, "error body"))
        first = body["errors"][0]
        detail = f": {first.get('code', '')} {first.get('message', '')}".rstrip()
    except (RemoteError, ValueError, KeyError, IndexError, TypeError, AttributeError):
        pass
    except aiohttp.ClientError:
        pass
    return RemoteError(f"{doing}: the remote answered {resp.status}{detail[:300]}")


class Rechunker:
    """Reads exactly n bytes at a time from an async iterator of chunks of any size."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._carry = b""

    async def take(self, n: int) -> AsyncIterator[bytes]:
        while n > 0:
            if not self._carry:
                try:
                    self._carry = await self._chunks.__anext__()
                except StopAsyncIteration:
                    raise RemoteError("the blob ended before its size") from None
                continue
            piece, self._carry = self._carry[:n], self._carry[n:]
            n -= len(piece)
            yield piece

    async def at_end(self) -> bool:
        if self._carry:
            return False
        async for chunk in self._chunks:
            if chunk:
                self._carry = chunk
                return False
        return True
