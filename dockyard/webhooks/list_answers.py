"""How the subscription lists answer (`GET /api/v0/webhooks`, a repository's, a namespace's).

MSR answers every subscription at once, and its clients and scripts read that one array. dockyard
keeps that answer for a request that names no page, but never holds the list: it is read in keyset
batches from a session of its own and written as it is read, so memory stays flat however many
subscriptions there are. A request with `pageSize` or `pageStart` gets one page, in SQL, with
`X-Next-Page-Start` (and `X-Resource-Count` with `count=true`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dockyard.api import pagination
from dockyard.auth.deps import services_of
from dockyard.webhooks import service
from dockyard.webhooks.models import Subscription
from dockyard.webhooks.schemas import Webhook

list_params = pagination.sized_page_params(100, "Subscriptions")
# Rows per read of a whole-list answer: bounded memory, few round trips.
STREAM_BATCH = 500
_PAGE_QUERY = frozenset({"pageSize", "pageStart"})


def wants_whole_list(request: Request) -> bool:
    """An MSR client's request: no page named."""
    return not (_PAGE_QUERY & request.query_params.keys())


async def subscription_page(
    session: AsyncSession,
    response: Response,
    stmt: Select[Subscription],
    params: pagination.PageParams,
) -> list[Webhook]:
    """One page in `service.PAGE_ORDER`, in SQL; its token: the id of its first subscription."""
    start = await service.page_start(session, params.start)
    keyset: pagination.Keyset[Subscription] = pagination.Keyset(
        service.PAGE_ORDER, lambda _t: start, lambda s: s.id
    )
    page = await pagination.keyset_page(session, stmt, keyset, params)
    pagination.set_page_headers(response, page, params)
    return [Webhook.of(s) for s in page.items]


async def every_subscription(
    sessionmaker: async_sessionmaker[AsyncSession], stmt: Select[Subscription]
) -> AsyncIterator[bytes]:
    """The whole list as one JSON array, batch by batch."""
    after: tuple[Any, ...] | None = None

    def remember(sub: Subscription) -> str:
        nonlocal after
        after = (sub.created_at, sub.id)
        return str(sub.id)

    keyset: pagination.Keyset[Subscription] = pagination.Keyset(
        service.PAGE_ORDER, lambda _t: after, remember
    )
    yield b"["
    first = True
    async with sessionmaker() as session:
        token = ""
        while True:
            params = pagination.PageParams(token, STREAM_BATCH, False)
            page = await pagination.keyset_page(session, stmt, keyset, params)
            for sub in page.items:
                yield (b"" if first else b",") + Webhook.of(sub).model_dump_json().encode()
                first = False
            session.expunge_all()
            if not page.next_start:
                break
            token = page.next_start
    yield b"]"


async def subscriptions_answer(
    request: Request,
    session: AsyncSession,
    response: Response,
    stmt: Select[Subscription],
    params: pagination.PageParams,
) -> list[Webhook] | Response:
    if wants_whole_list(request):
        rows = every_subscription(services_of(request).sessionmaker, stmt)
        return StreamingResponse(rows, media_type="application/json")
    return await subscription_page(session, response, stmt, params)
