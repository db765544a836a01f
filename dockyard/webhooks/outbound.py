"""What every outbound webhook request shares, on the HTTP side (test sends) and the delivery
side alike: the body encoding, the constant headers and the transport built from settings.

Small on purpose: the HTTP process imports it without importing the delivery engine. No
database here.
"""

from __future__ import annotations

import json
from typing import Any

from dockyard.config import Settings
from dockyard.kit.sealing import Sealer
from dockyard.webhooks.transport import Transport

# The constant part of every delivery's headers, merged once per job rather than per request.
JSON_HEADERS = {"Content-Type": "application/json"}


def encode_body(payload: Any) -> bytes:
    """Compact UTF-8 JSON, the bytes that are signed and sent."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def make_transport(settings: Settings) -> Transport:
    return Transport(
        blocked_networks=settings.webhook_blocked_networks,
        concurrency=settings.webhook_concurrency,
        per_endpoint=settings.webhook_max_per_endpoint,
        connect_timeout=settings.webhook_connect_timeout,
        total_timeout=settings.webhook_total_timeout,
        sealer=Sealer.from_settings(settings),  # opens subscriptions' client certificates
    )
