"""The SSRF check through aiohttp's public resolver interface: blocked addresses are dropped
from each DNS answer, a name that resolves only to blocked networks fails, and an IP literal
(which the connector never resolves) is refused before the request starts."""

from __future__ import annotations

import asyncio
import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from dockyard.webhooks.transport import (
    BlockedAddressError,
    GuardedResolver,
    Transport,
    parse_networks,
)


class FixedResolver(AbstractResolver):
    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses
        self.closed = False

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host=a, port=port, family=family, proto=0, flags=0)
            for a in self.addresses
        ]

    async def close(self) -> None:
        self.closed = True


def test_blocked_addresses_are_dropped_from_an_answer() -> None:
    inner = FixedResolver("10.1.2.3", "93.184.216.34", "::ffff:10.0.0.1")
    resolver = GuardedResolver(parse_networks("10.0.0.0/8"), inner)
    hosts = asyncio.run(resolver.resolve("hooks.example", 443))
    assert [h["host"] for h in hosts] == ["93.184.216.34"]
    asyncio.run(resolver.close())
    assert inner.closed


def test_a_name_resolving_only_to_blocked_networks_fails() -> None:
    resolver = GuardedResolver(
        parse_networks("10.0.0.0/8,169.254.0.0/16"), FixedResolver("10.9.9.9", "169.254.169.254")
    )
    with pytest.raises(BlockedAddressError):
        asyncio.run(resolver.resolve("metadata.example", 80))


def test_no_blocked_networks_passes_everything() -> None:
    resolver = GuardedResolver([], FixedResolver("127.0.0.1"))
    assert [h["host"] for h in asyncio.run(resolver.resolve("x", 80))] == ["127.0.0.1"]


@pytest.mark.parametrize("url", ["http://127.0.0.9:9/hook", "http://[::1]:9/hook"])
def test_an_ip_literal_in_a_blocked_network_is_refused(url: str) -> None:
    async def scenario() -> None:
        transport = Transport(
            blocked_networks="127.0.0.0/8,::1/128",
            concurrency=4,
            per_endpoint=2,
            connect_timeout=2,
            total_timeout=2,
        )
        try:
            with pytest.raises(BlockedAddressError):
                async with transport.session.post(url, data=b"{}"):
                    pass
        finally:
            await transport.close()

    asyncio.run(scenario())
