"""A test delivery to an existing subscription: its event type's fixed example payload in the
subscription's format (MSR or CloudEvents), sent to its endpoint with its TLS settings (client
certificate included) and signed like a real delivery (`webhook-id`, `webhook-timestamp`,
`webhook-signature` with every secret in use, the previous one too while a rotation overlaps),
so a receiver can check its signature verification before real events come.

MSR's `POST /api/v0/webhooks/test` names no subscription, so it has no secret to sign with; it
carries `webhook-id` and `webhook-timestamp` only. Nothing here is written to the delivery log.
No database here.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from dockyard.events.samples import sample_payload
from dockyard.events.types import EventType
from dockyard.webhooks.delivery import AttemptResult, attempt
from dockyard.webhooks.formats import MSR, encode, headers_of
from dockyard.webhooks.models import Subscription
from dockyard.webhooks.signing import headers_for, secrets_in_use
from dockyard.webhooks.transport import Transport, check_endpoint_allowed


@dataclass(frozen=True)
class SignedTest:
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class SendTarget:
    """What a test send needs of a subscription, read before the database session ends (the
    send may take as long as a delivery's timeout, with no session held)."""

    event_type: str
    repo_event_filter: str | None
    endpoint: str
    tls_cert: str
    skip_tls_verification: bool
    secret: str
    previous_secret: str | None
    previous_secret_expires_at: datetime | None
    format: str = MSR
    tls_client_sealed: str = ""

    @classmethod
    def of(cls, sub: Subscription) -> SendTarget:
        return cls(
            event_type=sub.event_type,
            repo_event_filter=sub.repo_event_filter,
            endpoint=sub.endpoint,
            tls_cert=sub.tls_cert,
            skip_tls_verification=sub.skip_tls_verification,
            secret=sub.secret,
            previous_secret=sub.previous_secret,
            previous_secret_expires_at=sub.previous_secret_expires_at,
            format=sub.format or MSR,
            tls_client_sealed=sub.tls_client_sealed or "",
        )


def build_signed_test(sub: SendTarget, now: datetime) -> SignedTest:
    """The sample of the subscription's type (with its REPO_EVENT kind), signed with its
    secrets; the `webhook-id` is `test-` and a fresh UUID, so it never collides with an event's."""
    payload = sample_payload(EventType(sub.event_type))
    if sub.repo_event_filter:
        payload["contents"]["event"] = sub.repo_event_filter
    msg_id = f"test-{uuid.uuid4()}"
    body = encode(sub.format, payload, msg_id)
    secrets = secrets_in_use(sub.secret, sub.previous_secret, sub.previous_secret_expires_at, now)
    headers = headers_for(secrets, msg_id, int(time.time()), body, headers_of(sub.format))
    return SignedTest(body, headers)


async def send_signed_test(transport: Transport, sub: SendTarget, now: datetime) -> AttemptResult:
    await check_endpoint_allowed(sub.endpoint, transport.blocked)
    test = build_signed_test(sub, now)
    return await attempt(
        transport,
        sub.endpoint,
        test.body,
        test.headers,
        tls_cert=sub.tls_cert,
        skip_tls_verification=sub.skip_tls_verification,
        tls_client_sealed=sub.tls_client_sealed,
    )
