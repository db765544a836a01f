"""HTTP routes of one subscription's deliveries (dockyard's extensions): the delivery log with
each attempt's request, redelivery, replay from the outbox, and a signed test delivery.

Mounted by `webhooks.routes` (same prefix, same tag). Thin, as those are: the subscription is
found with `service.get_manageable` (404 for an unknown id, 403 for one the caller may not
manage: a registry admin or an admin of its resource), `history` and `replay` do the work, and
the request's unit of work commits.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from dockyard.accounts.principal import Principal
from dockyard.api.bodies import body_doc
from dockyard.api.responses import errors
from dockyard.api.uow import UnitOfWork, unit_of_work_scope
from dockyard.auth.deps import require_principal, services_of
from dockyard.clock import rfc3339, utcnow
from dockyard.errors import DockyardError, ErrorCode
from dockyard.webhooks import history, replay, service
from dockyard.webhooks.delivery import AttemptResult, failure_message
from dockyard.webhooks.log_schemas import DeliveryLog, Replayed, ReplayRequest
from dockyard.webhooks.retry import ErrorKind
from dockyard.webhooks.runtime import WebhookRuntime
from dockyard.webhooks.schemas import Redelivered, RedeliverRequest, TestDelivery, parse_body
from dockyard.webhooks.subscription_test import SendTarget, send_signed_test

M = TypeVar("M", bound=BaseModel)

router = APIRouter(tags=["webhooks"])
Caller = Annotated[Principal, Depends(require_principal)]


def json_body(model: type[M]) -> Callable[[Request], Coroutine[Any, Any, M]]:
    """A dependency parsing the request body as JSON into `model`, whatever its content type
    (MSR scripts send `curl -d` without one); shared by both webhook route modules."""

    async def parse(request: Request) -> M:
        return parse_body(await request.body(), model)

    return parse


_TEST_KIND = {
    ErrorKind.TIMEOUT: "timeout",
    ErrorKind.TLS: "tls",
    ErrorKind.NETWORK: "network",
    ErrorKind.BLOCKED: "blocked",
}


def test_answer(result: AttemptResult) -> TestDelivery:
    """A test send's answer: the receiver's 2xx, or WEBHOOK_TEST_FAILED saying what happened."""
    answer = TestDelivery(
        statusCode=result.status, latencyMs=round(result.latency_ms, 1), response=result.excerpt
    )
    if result.ok:
        return answer
    if result.status is not None:
        kind = "status"
    else:
        kind = _TEST_KIND.get(result.error_kind or ErrorKind.NETWORK, "network")
    raise DockyardError(
        ErrorCode.WEBHOOK_TEST_FAILED,
        failure_message(result),
        detail={**answer.model_dump(), "kind": kind, "error": result.error},
    )


def _page_params(
    pageStart: Annotated[
        str | None, Query(description="Offset of the first delivery (0 to 2^63-1).")
    ] = None,
    pageSize: Annotated[str | None, Query(description="Deliveries per page (1 to 1000).")] = None,
    count: Annotated[str, Query(description="true: X-Resource-Count in the answer.")] = "",
) -> tuple[int, int, bool]:
    # Read as strings: a bad or huge number is this API's 400, with its own message.
    try:
        start = int(pageStart or 0)
        size = int(pageSize or 10)
    except ValueError as exc:
        raise DockyardError(
            ErrorCode.INVALID_PARAMETERS, "pageStart and pageSize must be integers."
        ) from exc
    # The offset goes to the database as a signed 64-bit integer.
    if not 0 <= start <= history.MAX_PAGE_START or not 1 <= size <= 1000:
        raise DockyardError(
            ErrorCode.INVALID_PARAMETERS,
            f"pageStart must be in 0..{history.MAX_PAGE_START} and pageSize in 1..1000.",
        )
    return start, size, count.lower() in ("1", "true", "yes")


@router.get(
    "/api/v0/webhooks/{webhook_id}/deliveries",
    summary="A subscription's deliveries, newest first, with each attempt's request (dockyard)",
    response_model=list[DeliveryLog],
    responses=errors(400, 401, 403, 404),
)
async def list_deliveries(
    webhook_id: str,
    response: Response,
    principal: Caller,
    session: UnitOfWork,
    paging: Annotated[tuple[int, int, bool], Depends(_page_params)],
    status: Annotated[str | None, Query(description="pending, delivered or failed.")] = None,
) -> list[DeliveryLog]:
    start, size, count = paging
    sub = await service.get_manageable(session, principal, webhook_id)
    page, next_start, total = await history.list_deliveries(
        session, sub, status=status, page_start=start, page_size=size, count=count
    )
    if next_start is not None:
        response.headers["X-Next-Page-Start"] = str(next_start)
    if count:
        response.headers["X-Resource-Count"] = str(total)
    return page


@router.get(
    "/api/v0/webhooks/{webhook_id}/deliveries/{delivery_id}",
    summary="One delivery with its attempts (dockyard)",
    response_model=DeliveryLog,
    responses=errors(401, 403, 404),
)
async def get_delivery(
    webhook_id: str, delivery_id: str, principal: Caller, session: UnitOfWork
) -> DeliveryLog:
    sub = await service.get_manageable(session, principal, webhook_id)
    return await history.delivery_log(session, sub, delivery_id)


@router.post(
    "/api/v0/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    summary="Send a delivery again, with a fresh retry budget (dockyard)",
    response_model=DeliveryLog,
    responses=errors(401, 403, 404),
)
async def redeliver(
    webhook_id: str, delivery_id: str, principal: Caller, session: UnitOfWork
) -> DeliveryLog:
    sub = await service.get_manageable(session, principal, webhook_id)
    delivery = await history.redeliver_one(session, sub, delivery_id)
    return await history.delivery_log(session, sub, delivery.id)


@router.post(
    "/api/v0/webhooks/{webhook_id}/redeliver",
    status_code=202,
    summary="Send again the deliveries of a status created since a time (dockyard)",
    response_model=Redelivered,
    responses=errors(400, 401, 403, 404, 413),
    openapi_extra=body_doc(RedeliverRequest),
)
async def redeliver_bulk(
    webhook_id: str,
    principal: Caller,
    form: Annotated[RedeliverRequest, Depends(json_body(RedeliverRequest))],
    session: UnitOfWork,
) -> Redelivered:
    sub = await service.get_manageable(session, principal, webhook_id)
    return Redelivered(redelivered=await history.redeliver_bulk(session, sub, form))


@router.post(
    "/api/v0/webhooks/{webhook_id}/replay",
    status_code=202,
    summary="Send again, from the retained events, every event the subscription matched since "
    "a time, as new deliveries marked as replays (dockyard)",
    response_model=Replayed,
    responses=errors(400, 401, 403, 404, 413),
    openapi_extra=body_doc(ReplayRequest),
)
async def replay_events(
    request: Request,
    webhook_id: str,
    principal: Caller,
    form: Annotated[ReplayRequest, Depends(json_body(ReplayRequest))],
    session: UnitOfWork,
) -> Replayed:
    sub = await service.get_manageable(session, principal, webhook_id)
    now = utcnow()
    replay.check_since(form.since, now, services_of(request).settings.event_retention_days)
    replay.check_active(sub)
    done = await replay.replay(session, sub, form.since, now)
    next_since = done.next_since
    return Replayed(
        queued=done.queued,
        more=next_since is not None,
        nextSince=rfc3339(next_since) if next_since is not None else None,
    )


@router.post(
    "/api/v0/webhooks/{webhook_id}/test",
    summary="Send the sample event to a subscription's endpoint, signed like its deliveries "
    "(dockyard)",
    response_model=TestDelivery,
    responses=errors(400, 401, 403, 404, 429),
)
async def test_subscription(request: Request, webhook_id: str, principal: Caller) -> TestDelivery:
    services = services_of(request)
    # No session is held while the endpoint answers (up to the delivery timeout).
    async with unit_of_work_scope(services) as session:
        target = SendTarget.of(await service.get_manageable(session, principal, webhook_id))
    runtime: WebhookRuntime = request.app.state.webhook_runtime
    await runtime.check_rate(services.sessionmaker, principal.account_id)
    return test_answer(await send_signed_test(runtime.transport, target, utcnow()))
