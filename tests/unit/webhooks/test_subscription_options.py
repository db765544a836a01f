"""A subscription's options beyond MSR as request bodies carry them (webhooks.schemas and
webhooks.options), client certificate pairs (webhooks.client_certs), and the transport's
per-subscription client context."""

from __future__ import annotations

import ssl
from typing import Any

import pytest
import trustme
from cryptography.fernet import Fernet

from dockyard.errors import DockyardError
from dockyard.kit.sealing import Sealer, SealError
from dockyard.webhooks.client_certs import check_pair, open_sealed, seal
from dockyard.webhooks.schemas import WebhookCreate, WebhookPatch, WebhookUpdate, validated
from dockyard.webhooks.transport import Transport
from tests.fakes.client_certs import client_pair, other_key

BASE = {"type": "TAG_PUSH", "key": "foo/bar", "endpoint": "https://example.com"}


def _error(model: Any, body: dict[str, Any]) -> DockyardError:
    with pytest.raises(DockyardError) as err:
        validated(model, body)
    return err.value


def test_msr_body_gets_the_defaults() -> None:
    form = validated(WebhookCreate, BASE)
    assert form.tagFilter == [] and form.minSeverity is None and form.format == "msr"
    assert form.client_cert is None


def test_options_parsed() -> None:
    form = validated(
        WebhookCreate,
        {**BASE, "type": "SCAN_COMPLETED", "tagFilter": "v*,!*-rc*", "minSeverity": "major"},
    )
    assert form.tagFilter == ["v*", "!*-rc*"] and form.minSeverity == "major"
    assert validated(WebhookCreate, {**BASE, "format": "cloudevents"}).format == "cloudevents"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tagFilter": 3}, "tagFilter"),
        ({"tagFilter": ["a b"]}, "tagFilter"),
        ({"type": "MANIFEST_PUSH", "tagFilter": ["v*"]}, "tagFilter"),
        ({"type": "REPO_CREATED", "key": "foo", "tagFilter": "v*"}, "tagFilter"),
        ({"minSeverity": "major"}, "minSeverity"),  # TAG_PUSH has no scan
        ({"type": "SCAN_COMPLETED", "minSeverity": "high"}, "minSeverity"),
        ({"format": "xml"}, "format"),
        ({"format": 1}, "format"),
    ],
)
def test_options_refused_with_the_field(body: dict[str, Any], field: str) -> None:
    err = _error(WebhookCreate, {**BASE, **body})
    assert err.code.value == "INVALID_PARAMETERS" and err.detail["field"] == field


def test_msr_checks_come_first() -> None:
    err = _error(WebhookCreate, {**BASE, "type": "NOPE", "format": "xml"})
    assert err.code.value == "INVALID_WEBHOOK_TYPE"


def test_changes_leave_what_is_not_sent() -> None:
    patch = validated(WebhookPatch, {"inactive": True})
    assert patch.tagFilter is None and patch.minSeverity is None and patch.format is None
    assert patch.client_cert is None
    cleared = validated(WebhookPatch, {"tagFilter": [], "minSeverity": "", "format": "msr"})
    assert cleared.tagFilter == [] and cleared.minSeverity == "" and cleared.format == "msr"
    item = validated(WebhookUpdate, {"id": "x", "tagFilter": "latest"})
    assert item.tagFilter == ["latest"]
    assert _error(WebhookPatch, {"minSeverity": "high"}).detail["field"] == "minSeverity"
    assert _error(WebhookUpdate, {"id": "x", "format": "xml"}).detail["field"] == "format"


def test_client_pair_checked() -> None:
    ca = trustme.CA()
    cert, key = client_pair(ca, "hooks.example.com")
    form = validated(WebhookCreate, {**BASE, "tlsClientCert": cert, "tlsClientKey": key})
    pair = form.client_cert
    assert pair is not None and "hooks.example.com" in pair.subject
    removal = validated(WebhookPatch, {"tlsClientCert": "", "tlsClientKey": ""}).client_cert
    assert removal is not None and removal.cert_pem == "" and removal.subject == ""


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"tlsClientCert": "CERT"}, "tlsClientKey"),  # one without the other
        ({"tlsClientKey": "KEY"}, "tlsClientCert"),
        ({"tlsClientCert": "not a pem", "tlsClientKey": "KEY"}, "tlsClientCert"),
        ({"tlsClientCert": "CERT", "tlsClientKey": "not a key"}, "tlsClientKey"),
        ({"tlsClientCert": "CERT", "tlsClientKey": "OTHER"}, "tlsClientKey"),  # not its key
        ({"tlsClientCert": 5, "tlsClientKey": "KEY"}, "tlsClientCert"),
    ],
)
def test_client_pair_refused(fields: dict[str, Any], field: str) -> None:
    cert, key = client_pair(trustme.CA())
    real = {"CERT": cert, "KEY": key, "OTHER": other_key()}
    body = {k: real.get(v, v) if isinstance(v, str) else v for k, v in fields.items()}
    for model, extra in ((WebhookCreate, BASE), (WebhookPatch, {})):
        err = _error(model, {**extra, **body})
        assert err.code.value == "INVALID_TLS_CERT" and err.detail["field"] == field
        assert err.status == 400


def test_sealed_pair_opens_only_with_its_key() -> None:
    cert, key = client_pair(trustme.CA())
    sealer = Sealer(Fernet.generate_key())
    token = seal(sealer, check_pair(cert, key))
    assert cert not in token and "PRIVATE KEY" not in token
    assert open_sealed(sealer, token) == (cert, key)
    with pytest.raises(SealError):
        open_sealed(Sealer(Fernet.generate_key()), token)


async def test_transport_client_context_cached_and_guarded() -> None:
    cert, key = client_pair(trustme.CA())
    sealer = Sealer(Fernet.generate_key())
    token = seal(sealer, check_pair(cert, key))
    transport = Transport(
        blocked_networks="",
        concurrency=4,
        per_endpoint=2,
        connect_timeout=1,
        total_timeout=2,
        sealer=sealer,
    )
    try:
        ctx = transport.ssl_for("", False, token)
        assert isinstance(ctx, ssl.SSLContext) and ctx.verify_mode == ssl.CERT_REQUIRED
        assert transport.ssl_for("", False, token) is ctx
        skipping = transport.ssl_for("", True, token)
        assert isinstance(skipping, ssl.SSLContext) and skipping.verify_mode == ssl.CERT_NONE
        assert transport.ssl_for("", True) is False  # no client certificate: as before
        with pytest.raises(ssl.SSLError):
            transport.ssl_for("", False, "not-a-token")
    finally:
        await transport.close()
