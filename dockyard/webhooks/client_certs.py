"""Client certificates for endpoints that require mutual TLS (beyond MSR).

A subscription may carry `tlsClientCert` (PEM: the certificate, optionally followed by its
intermediates) and `tlsClientKey` (PEM, unencrypted private key). Both are checked here (they
parse, the key is the certificate's), then sealed together (`kit.sealing`) for the database;
the API shows only the certificate's subject. The transport opens the sealed pair when it builds
the SSL context of the subscription (`load_into`). No database and no HTTP here.
"""

from __future__ import annotations

import json
import os
import ssl
import tempfile
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from dockyard.errors import DockyardError, ErrorCode
from dockyard.kit.sealing import Sealer

MAX_PEM = 65536
_SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True)
class ClientCert:
    cert_pem: str
    key_pem: str
    subject: str  # RFC 4514, e.g. "CN=ci-hooks,O=Example"


def _bad(field: str, message: str, problem: str = "") -> DockyardError:
    detail = {"field": field}
    if problem:
        detail["problem"] = problem[:200]
    return DockyardError(ErrorCode.INVALID_TLS_CERT, message, detail=detail)


def _pem(body: dict[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_PEM:
        raise _bad(field, f"{field} must be a PEM string of at most {MAX_PEM} characters.")
    return value


def parse_client_cert(body: dict[str, Any]) -> ClientCert | None:
    """The pair a request body sets: None when it names neither field; a ClientCert with empty
    PEMs when both are "" (remove it); else both checked. Anything else is a 400."""
    cert_pem, key_pem = _pem(body, "tlsClientCert"), _pem(body, "tlsClientKey")
    if cert_pem is None and key_pem is None:
        return None
    if not cert_pem and not key_pem:
        return ClientCert("", "", "")
    if not cert_pem or not key_pem:
        missing = "tlsClientKey" if cert_pem else "tlsClientCert"
        raise _bad(missing, "tlsClientCert and tlsClientKey go together: give both, or both empty.")
    return check_pair(cert_pem, key_pem)


def check_pair(cert_pem: str, key_pem: str) -> ClientCert:
    try:
        chain = x509.load_pem_x509_certificates(cert_pem.encode())
    except ValueError as exc:
        raise _bad(
            "tlsClientCert",
            "tlsClientCert must be a PEM certificate (-----BEGIN CERTIFICATE----- ...).",
            str(exc),
        ) from None
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        # TypeError: the key is encrypted (a password would be needed).
        raise _bad(
            "tlsClientKey",
            "tlsClientKey must be an unencrypted PEM private key.",
            str(exc),
        ) from None
    if key.public_key().public_bytes(*_SPKI) != chain[0].public_key().public_bytes(*_SPKI):
        raise _bad("tlsClientKey", "tlsClientKey is not the private key of tlsClientCert.")
    return ClientCert(cert_pem, key_pem, chain[0].subject.rfc4514_string()[:512])


def seal(sealer: Sealer, cert: ClientCert) -> str:
    if not cert.cert_pem:
        return ""
    return sealer.seal(json.dumps({"cert": cert.cert_pem, "key": cert.key_pem}))


def open_sealed(sealer: Sealer, token: str) -> tuple[str, str]:
    """(certificate PEM, key PEM) of a sealed pair."""
    raw = json.loads(sealer.open(token))
    return str(raw["cert"]), str(raw["key"])


def load_into(ctx: ssl.SSLContext, cert_pem: str, key_pem: str) -> None:
    """Give `ctx` the client certificate: `ssl` reads a chain only from files, so the pair is
    written to private temporary files (0600 in a 0700 directory), removed at once."""
    with tempfile.TemporaryDirectory(prefix="dockyard-client-") as folder:
        cert_path = _private_file(folder, "cert.pem", cert_pem)
        key_path = _private_file(folder, "key.pem", key_pem)
        ctx.load_cert_chain(cert_path, key_path)


def _private_file(folder: str, name: str, text: str) -> str:
    path = os.path.join(folder, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return path
