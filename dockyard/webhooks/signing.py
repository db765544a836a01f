"""Standard Webhooks signatures: `webhook-signature: v1,<base64 HMAC-SHA256(id.timestamp.body)>`.

Secrets are `whsec_` + base64 of 24 random bytes, the form the `standardwebhooks` library
verifies. While a rotated secret overlaps, both signatures are sent, space-separated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime
from functools import lru_cache

SECRET_PREFIX = "whsec_"


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


@lru_cache(maxsize=4096)
def _key(secret: str) -> bytes:
    raw = secret.removeprefix(SECRET_PREFIX)
    return base64.b64decode(raw + "=" * (-len(raw) % 4))


def secrets_in_use(
    secret: str, previous: str | None, previous_expires: datetime | None, now: datetime
) -> list[str]:
    """The secrets a message is signed with: the current one, and the previous one while its
    overlap after a rotation lasts."""
    if previous and previous_expires is not None and previous_expires > now:
        return [secret, previous]
    return [secret]


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode("ascii")


def signature_header(secrets_in_use: list[str], msg_id: str, timestamp: int, body: bytes) -> str:
    return " ".join(sign(s, msg_id, timestamp, body) for s in secrets_in_use)


def headers_for(
    secrets_in_use: list[str],
    msg_id: str,
    timestamp: int,
    body: bytes,
    base: dict[str, str] | None = None,
) -> dict[str, str]:
    """The Standard Webhooks headers, added to a copy of `base` (e.g. the Content-Type)."""
    headers = dict(base) if base else {}
    headers["webhook-id"] = msg_id
    headers["webhook-timestamp"] = str(timestamp)
    if secrets_in_use:
        headers["webhook-signature"] = signature_header(secrets_in_use, msg_id, timestamp, body)
    return headers
