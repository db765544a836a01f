"""Registry bearer tokens (Docker's token authentication spec): the signing key, scopes, JWTs.

The key is an ECDSA P-256 key (ES256) generated into the data folder on first start and
shared by every worker process. Tokens are short-lived and carry Docker's `access` claim:
`[{"type": "repository", "name": "ns/repo", "actions": ["pull", "push"]}]`.
No HTTP here.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from dockyard.kit.cache import ExpiringCache
from dockyard.kit.secretfile import read_or_create
from dockyard.rules.permissions import AccessLevel

KEY_FILE = "registry-token-key.pem"
ALGORITHM = "ES256"
ISSUER = "dockyard"
TOKEN_TTL_SECONDS = 300
# The name under which Principal.scopes carries a token's `registry:catalog` grant (a
# repository name never holds a colon, so it cannot collide).
CATALOG_SCOPE = "registry:catalog"


class InvalidToken(Exception):
    """The bearer token is malformed, forged, expired or meant for another service."""


@dataclass(frozen=True)
class SigningKey:
    private: ec.EllipticCurvePrivateKey
    kid: str

    @property
    def public(self) -> ec.EllipticCurvePublicKey:
        return self.private.public_key()


def _kid(key: ec.EllipticCurvePrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b32encode(hashlib.sha256(der).digest()[:15]).decode()


def load_or_create_key(data_dir: Path, pem_text: str = "") -> SigningKey:
    """The key given (shared by every replica, `DOCKYARD_REGISTRY_TOKEN_KEY`), else the data
    folder's, created on first start (several workers may race: one file wins)."""
    path = data_dir / KEY_FILE
    if pem_text:
        return _load_pem(pem_text.encode(), "the configured registry token key")

    def generate() -> bytes:
        return ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    return _load_pem(read_or_create(path, generate), str(path))


def _load_pem(pem: bytes, where: str) -> SigningKey:
    loaded = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{where} does not hold an EC private key")
    return SigningKey(loaded, _kid(loaded))


@dataclass(frozen=True)
class Scope:
    type: str  # "repository" | "registry"
    name: str
    actions: frozenset[str]

    def wire(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "actions": sorted(self.actions)}


def parse_scope(value: str) -> Scope | None:
    """`repository:ns/repo:pull,push` -> Scope; None for anything we do not understand.

    The name may itself contain a colon (a registry host with a port), so split from both ends.
    """
    kind, sep, rest = value.partition(":")
    if not sep:
        return None
    name, sep, actions = rest.rpartition(":")
    if not sep or not name or kind not in ("repository", "registry"):
        return None
    parsed = frozenset(a.strip() for a in actions.split(",") if a.strip())
    return Scope(kind, name, parsed)


def actions_for_level(level: AccessLevel) -> frozenset[str]:
    """What an access level allows, in token actions (MSR: read-write may delete tags)."""
    if level >= AccessLevel.ADMIN:
        return frozenset({"pull", "push", "delete", "*"})
    if level >= AccessLevel.READ_WRITE:
        return frozenset({"pull", "push", "delete"})
    if level >= AccessLevel.READ_ONLY:
        return frozenset({"pull"})
    return frozenset()


def issue_token(
    key: SigningKey,
    *,
    service: str,
    subject: str,
    access: list[Scope],
    ttl: int = TOKEN_TTL_SECONDS,
    now: float | None = None,
    extra: dict[str, Any] | None = None,
) -> tuple[str, int, float]:
    """A signed JWT; returns (token, expires_in, issued_at epoch seconds)."""
    issued = time.time() if now is None else now
    claims: dict[str, Any] = {
        **(extra or {}),
        "iss": ISSUER,
        "sub": subject,
        "aud": service,
        "iat": int(issued),
        "nbf": int(issued) - 1,
        "exp": int(issued) + ttl,
        "jti": secrets.token_hex(16),
        "access": [scope.wire() for scope in access],
    }
    token = jwt.encode(claims, key.private, algorithm=ALGORITHM, headers={"kid": key.kid})
    return token, ttl, issued


# Verified tokens, by (key id, service, token string) -> (exp epoch seconds, claims). Clients
# send the same token on every request for its whole (short) lifetime; an ES256 verification
# costs more than the rest of a manifest GET. Only successes are cached, and only until `exp`
# (stricter than the verification's leeway), so expiry is honoured exactly as before.
# Entries also leave after TOKEN_TTL_SECONDS; the least recently used go first when full.
_verified: ExpiringCache[tuple[str, str, str], tuple[float, dict[str, Any]]] = ExpiringCache(
    maxsize=4096, ttl=TOKEN_TTL_SECONDS, timer=time.time
)


def verify_token(key: SigningKey, token: str, *, service: str) -> dict[str, Any]:
    cache_key = (key.kid, service, token)
    hit = _verified.get(cache_key)
    if hit is not None:
        if time.time() < hit[0]:
            return hit[1]
        _verified.discard(cache_key)
    claims = _verify_uncached(key, token, service=service)
    exp = claims.get("exp")
    if isinstance(exp, int | float):
        _verified.put(cache_key, (float(exp), claims))
    return claims


def _verify_uncached(key: SigningKey, token: str, *, service: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.public,
            algorithms=[ALGORITHM],
            audience=service,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            leeway=5,
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    access = claims.get("access")
    if not isinstance(access, list):
        raise InvalidToken("the token has no access claim")
    return claims


def scopes_from_claims(claims: dict[str, Any]) -> tuple[tuple[str, frozenset[str]], ...]:
    """The repository grants of a verified token, as Principal.scopes holds them, and its
    catalog grant under CATALOG_SCOPE."""
    grants: list[tuple[str, frozenset[str]]] = []
    for entry in claims.get("access", []):
        if not isinstance(entry, dict):
            continue
        if entry.get("type") == "registry" and entry.get("name") == "catalog":
            actions = entry.get("actions")
            if isinstance(actions, list):
                grants.append((CATALOG_SCOPE, frozenset(a for a in actions if a == "*")))
            continue
        if entry.get("type") != "repository":
            continue
        name = entry.get("name")
        actions = entry.get("actions")
        if isinstance(name, str) and isinstance(actions, list):
            grants.append((name, frozenset(a for a in actions if isinstance(a, str))))
    return tuple(grants)
