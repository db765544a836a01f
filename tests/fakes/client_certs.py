"""Client certificates for mutual TLS tests: a trustme CA issues them; PEM strings out."""

from __future__ import annotations

import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def client_pair(ca: trustme.CA, name: str = "ci-hooks@example.com") -> tuple[str, str]:
    """(certificate PEM, private key PEM) of a client certificate `ca` issued."""
    leaf = ca.issue_cert(name, common_name=name)
    cert = b"".join(blob.bytes() for blob in leaf.cert_chain_pems).decode()
    return cert, leaf.private_key_pem.bytes().decode()


def other_key() -> str:
    """A private key that belongs to no certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
