"""Webhook state the HTTP side needs: the process's outbound transport for test sends, and the
per-account rate limit of the test endpoint (counted in the database, shared by every HTTP
worker). No HTTP framework here."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dockyard.config import Settings
from dockyard.db import shared_limits
from dockyard.errors import DockyardError, ErrorCode

if TYPE_CHECKING:
    from dockyard.webhooks.delivery import AttemptResult
    from dockyard.webhooks.service import ResolvedType
    from dockyard.webhooks.transport import Transport

# The transport (aiohttp), the samples and the subscription service are imported by the methods
# that use them: every HTTP worker builds a runtime at startup, and one serving only /v2 never
# sends a test (about 12 MB of RSS it would otherwise hold).


class WebhookRuntime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._transport: Transport | None = None

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            from dockyard.webhooks.outbound import make_transport

            self._transport = make_transport(self.settings)
        return self._transport

    async def check_rate(
        self, sessionmaker: async_sessionmaker[AsyncSession], account_id: str
    ) -> None:
        """Count one test send for the account in the database, so that every HTTP worker
        shares the limit; committed at once (a failed send still counts)."""
        amount = self.settings.webhook_test_rate_per_minute
        async with sessionmaker() as session:
            counted = await shared_limits.hit(session, "webhook-test", account_id, seconds=60)
            await session.commit()
        if counted.hits > amount:
            retry = int(counted.window_left) + 1
            raise DockyardError(
                ErrorCode.RATE_LIMITED,
                f"At most {amount} webhook tests per minute; try again in {retry} s.",
                headers={"Retry-After": str(retry)},
            )

    async def send_test(
        self, rtype: ResolvedType, endpoint: str, tls_cert: str, skip_tls_verification: bool
    ) -> AttemptResult:
        from dockyard.events.samples import sample_payload
        from dockyard.webhooks.delivery import attempt
        from dockyard.webhooks.outbound import encode_body
        from dockyard.webhooks.signing import headers_for
        from dockyard.webhooks.transport import check_endpoint_allowed

        await check_endpoint_allowed(endpoint, self.transport.blocked)
        payload = sample_payload(rtype.event_type)
        if rtype.repo_event_filter:
            payload["contents"]["event"] = rtype.repo_event_filter
        body = encode_body(payload)
        headers = headers_for([], f"test-{uuid.uuid4()}", int(time.time()), body)
        return await attempt(
            self.transport,
            endpoint,
            body,
            headers,
            tls_cert=tls_cert,
            skip_tls_verification=skip_tls_verification,
        )

    async def close(self) -> None:
        if self._transport is not None:
            await self._transport.close()
            self._transport = None

    async def hold(self, _services: object) -> None:
        """Background task that owns the transport's lifetime (closed at shutdown)."""
        import asyncio

        try:
            await asyncio.Event().wait()
        finally:
            await self.close()
