"""Signatures verify with the reference `standardwebhooks` library (rotation included); the
SSRF network checks and input validation."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import trustme
from standardwebhooks import Webhook, WebhookVerificationError

from dockyard.config import DEFAULT_BLOCKED_NETWORKS
from dockyard.errors import DockyardError, ErrorCode
from dockyard.webhooks.signing import generate_secret, headers_for, secrets_in_use
from dockyard.webhooks.transport import (
    is_blocked,
    parse_networks,
    validate_endpoint,
    validate_tls_cert,
)


def test_signature_verifies_with_standardwebhooks() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_")
    body = json.dumps({"type": "TAG_PUSH", "contents": {"tag": "é"}}).encode()
    headers = headers_for([secret], "evt-1", int(time.time()), body)
    assert Webhook(secret).verify(body, headers)["type"] == "TAG_PUSH"
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", headers)


def test_rotation_signs_with_both_secrets_for_24h() -> None:
    old, new = generate_secret(), generate_secret()
    now = datetime.now(UTC)
    in_use = secrets_in_use(new, old, now + timedelta(hours=24), now)
    assert in_use == [new, old]
    body = b"{}"
    headers = headers_for(in_use, "evt-2", int(time.time()), body)
    Webhook(old).verify(body, headers)
    Webhook(new).verify(body, headers)
    assert secrets_in_use(new, old, now - timedelta(seconds=1), now) == [new]


@pytest.mark.parametrize(
    ("address", "blocked"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("169.254.169.254", True),
        ("0.0.0.0", True),
        ("224.0.0.1", True),
        ("fe80::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.1.2.3", False),
        ("192.168.1.1", False),
        ("8.8.8.8", False),
        ("2001:db8::1", False),
    ],
)
def test_default_blocked_networks(address: str, blocked: bool) -> None:
    assert is_blocked(address, parse_networks(DEFAULT_BLOCKED_NETWORKS)) is blocked


def test_cleared_setting_blocks_nothing() -> None:
    assert parse_networks("") == []
    assert not is_blocked("127.0.0.1", parse_networks(""))


@pytest.mark.parametrize(
    "endpoint",
    ["", None, 3, "ftp://x/", "http://", "not a url", "http://u:p@host/", "http://h:99999/"],
)
def test_bad_endpoints(endpoint: object) -> None:
    with pytest.raises(DockyardError) as info:
        validate_endpoint(endpoint)
    assert info.value.code is ErrorCode.INVALID_WEBHOOK_ENDPOINT


def test_tls_cert_validation() -> None:
    pem = trustme.CA().cert_pem.bytes().decode()
    assert validate_tls_cert(pem) == pem
    assert validate_tls_cert("") == ""
    for bad in ("junk", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", 5):
        with pytest.raises(DockyardError) as info:
            validate_tls_cert(bad)
        assert info.value.code is ErrorCode.INVALID_TLS_CERT
