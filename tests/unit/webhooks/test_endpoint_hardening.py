"""Endpoint URL validation (control characters, spaces, IDN, label and host lengths, broken IP
literals) and the pinned-certificate trust rule (a leaf or an intermediate anchors the chain)."""

from __future__ import annotations

import asyncio
import ssl

import pytest
import trustme

from dockyard.errors import DockyardError, ErrorCode
from dockyard.webhooks.transport import Transport, validate_endpoint


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://[::1/",
        "http://[::1/hook",
        "http://[abc]/",
        "http://" + "a" * 300 + ".example.com/hook",
        "http://" + "a" * 64 + ".example.com/",
        "http://" + ".".join(["a" * 63] * 4) + "/",  # 255 characters
        "http://ex ample.com/",
        "http://example.com/a b",
        " http://example.com/",
        "http://example.com/\t",
        "http://exa\nmple.com/",
        "http://example.com/\x00",
        "http://example.com/\x7f",
        "http://ex\u200bample.com/",  # zero-width space
        "http://example.com/\u202e",  # right-to-left override
        "http://\u2603.example/",  # a snowman is not IDNA 2008
        "http://xn--n3h.example/",  # ... nor in its punycode form
        "http://-lead.example/",
        "http://a..b/",
        "http://exa%6dple.com/",
        "http://256.1.1.1/",
        "http://1.2.3/",
        "http://0x7f.1/",
        "ftp://example.com/",
        "http:///nohost",
        "http://example.com:99999/",
        "http://user:pw@example.com/",
        "http://example.com/" + "x" * 2048,
    ],
)
def test_bad_endpoints_are_400(endpoint: str) -> None:
    with pytest.raises(DockyardError) as info:
        validate_endpoint(endpoint)
    assert info.value.code is ErrorCode.INVALID_WEBHOOK_ENDPOINT
    assert info.value.status == 400


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://ci.example.com/hook?x=1",
        "http://127.0.0.1:8080/h",
        "http://[::1]:8080/h",
        "http://[2001:db8::1]/",
        "http://my_service:8080/hook",  # compose service names hold underscores
        "http://b\u00fccher.example/hook",
        "http://xn--bcher-kva.example/hook",
        "https://example.com./",
        "http://" + ".".join(["a" * 63] * 3) + "/",
        "https://example.com/p\u00e4th",
    ],
)
def test_good_endpoints_pass(endpoint: str) -> None:
    assert validate_endpoint(endpoint) == endpoint


def test_300_character_label_names_the_label() -> None:
    with pytest.raises(DockyardError) as info:
        validate_endpoint("http://" + "a" * 300 + "/")
    assert "63" in info.value.message


def _verify(ctx: ssl.SSLContext, server_ctx: ssl.SSLContext) -> None:
    """A TLS handshake in memory between `ctx` (client, host 127.0.0.1) and `server_ctx`."""
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = ctx.wrap_bio(c_in, c_out, server_hostname="127.0.0.1")
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    done = {"c": False, "s": False}
    for _ in range(20):
        for name, end, out, peer_in in (("c", client, c_out, s_in), ("s", server, s_out, c_in)):
            if not done[name]:
                try:
                    end.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
            peer_in.write(out.read())
        if all(done.values()):
            return
    raise AssertionError("handshake did not finish")


async def _context(pem: str) -> ssl.SSLContext:
    transport = Transport(
        blocked_networks="",
        concurrency=1,
        per_endpoint=1,
        connect_timeout=1,
        total_timeout=1,
    )
    try:
        ctx = transport.ssl_for(pem, False)
        assert isinstance(ctx, ssl.SSLContext)
        return ctx
    finally:
        await transport.close()


@pytest.mark.parametrize("pinned", ["leaf", "intermediate", "root"])
def test_pinned_leaf_intermediate_or_root_anchors_the_chain(pinned: str) -> None:
    root = trustme.CA()
    intermediate = root.create_child_ca()
    leaf = intermediate.issue_cert("127.0.0.1")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(server_ctx)  # serves leaf + intermediate, as servers do
    pem = {
        "leaf": leaf.cert_chain_pems[0].bytes().decode(),
        "intermediate": intermediate.cert_pem.bytes().decode(),
        "root": root.cert_pem.bytes().decode(),
    }[pinned]
    _verify(asyncio.run(_context(pem)), server_ctx)


def test_a_pinned_certificate_of_another_chain_is_refused() -> None:
    leaf = trustme.CA().issue_cert("127.0.0.1")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(server_ctx)
    other = trustme.CA().issue_cert("127.0.0.1").cert_chain_pems[0].bytes().decode()
    with pytest.raises(ssl.SSLCertVerificationError):
        _verify(asyncio.run(_context(other)), server_ctx)


def test_a_pinned_leaf_for_another_host_is_refused() -> None:
    leaf = trustme.CA().issue_cert("other.example")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(server_ctx)
    pem = leaf.cert_chain_pems[0].bytes().decode()
    with pytest.raises(ssl.SSLCertVerificationError):
        _verify(asyncio.run(_context(pem)), server_ctx)
