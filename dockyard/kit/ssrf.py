"""The SSRF guard for outbound HTTP (webhooks, mirroring remotes): which networks are blocked,
and an aiohttp resolver and trace hook that refuse them at connect time.

The check runs on the addresses the connector is about to connect to (a resolver that drops
blocked addresses from each DNS answer; IP literals, which the connector never resolves, are
checked as the request starts), so a DNS answer that changes after a URL was accepted cannot
reach a blocked network. Generic: knows no feature.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from types import SimpleNamespace

import aiohttp
from aiohttp import DefaultResolver
from aiohttp.abc import AbstractResolver, ResolveResult

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class BlockedAddressError(aiohttp.ClientError):
    """The host resolved only to addresses in a blocked network."""


def parse_networks(value: str) -> list[Network]:
    networks: list[Network] = []
    for part in value.split(","):
        part = part.strip()
        if part:
            networks.append(ipaddress.ip_network(part, strict=False))
    return networks


def is_blocked(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True  # not an address we can reason about: refuse
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in networks)


class GuardedResolver(AbstractResolver):
    """aiohttp's default resolver, with the addresses in blocked networks dropped from each
    answer (the connector caches the filtered answer, so a cached one is filtered too)."""

    def __init__(self, blocked: Sequence[Network], inner: AbstractResolver | None = None) -> None:
        self._blocked = list(blocked)
        self._inner = inner if inner is not None else DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        hosts = await self._inner.resolve(host, port, family)
        if not self._blocked:
            return hosts
        allowed = [h for h in hosts if not is_blocked(h["host"], self._blocked)]
        if not allowed:
            raise BlockedAddressError(f"{host} resolves only to blocked addresses")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def literal_guard(blocked: Sequence[Network]) -> aiohttp.TraceConfig:
    """The connector never asks the resolver about an IP literal: such a URL is checked
    before the request starts."""

    async def on_request_start(
        _session: aiohttp.ClientSession,
        _context: SimpleNamespace,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        host = params.url.host or ""
        try:
            ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return  # a name: the resolver checks what it resolves to
        if is_blocked(host, blocked):
            raise BlockedAddressError(f"{host} is a blocked address")

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    return trace
