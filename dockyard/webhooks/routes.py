"""HTTP routes of webhooks: MSR's /api/v0/webhooks API, dockyard's extensions (PATCH, secret
rotation, delivery log, redelivery, JSON Schemas) and /metrics.

Thin: parse the body with `webhooks.schemas`, call the service, shape the answer with the same
module. The request's unit of work commits; no route commits or wakes anything by hand. Bodies
are read as JSON whatever their content type (MSR scripts send `curl -d` without one), after
the caller is authenticated; the OpenAPI document gets each body's model and example.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from dockyard.accounts.principal import Principal
from dockyard.api import pagination
from dockyard.api.bodies import body_doc
from dockyard.api.responses import errors
from dockyard.api.uow import UnitOfWork
from dockyard.auth.deps import metrics_access, require_principal, services_of
from dockyard.clock import utcnow
from dockyard.errors import DockyardError, ErrorCode
from dockyard.events.schemas import event_schema
from dockyard.kit.sealing import sealer_for
from dockyard.webhooks import history, metrics, service
from dockyard.webhooks.checks import parse_json
from dockyard.webhooks.delivery import failure_message
from dockyard.webhooks.list_answers import list_params, subscriptions_answer
from dockyard.webhooks.retry import ErrorKind
from dockyard.webhooks.runtime import WebhookRuntime
from dockyard.webhooks.schemas import (
    DeliveryOut,
    PayloadSchema,
    Redelivered,
    RedeliverRequest,
    TestDelivery,
    Webhook,
    WebhookCreate,
    WebhookPatch,
    WebhookTest,
    WebhookUpdate,
    WebhookWithSecret,
    parse_body,
    validated,
)
from dockyard.webhooks.transport import check_endpoint_allowed

M = TypeVar("M", bound=BaseModel)

router = APIRouter(tags=["webhooks"])
Caller = Annotated[Principal, Depends(require_principal)]


def _body(model: type[M]) -> Callable[[Request], Coroutine[Any, Any, M]]:
    async def parse(request: Request) -> M:
        return parse_body(await request.body(), model)

    return parse


def _runtime(request: Request) -> WebhookRuntime:
    runtime: WebhookRuntime = request.app.state.webhook_runtime
    return runtime


@router.post(
    "/api/v0/webhooks",
    status_code=201,
    summary="Subscribe an endpoint to an event",
    response_model=WebhookWithSecret,
    responses=errors(400, 401, 403, 404, 413),
    openapi_extra=body_doc(WebhookCreate),
)
async def create_webhook(
    request: Request,
    principal: Caller,
    form: Annotated[WebhookCreate, Depends(_body(WebhookCreate))],
    session: UnitOfWork,
) -> WebhookWithSecret:
    limits = service.Limits.of(services_of(request).settings)
    sealer = sealer_for(services_of(request).settings)
    sub = await service.create_subscription(session, principal, form, limits=limits, sealer=sealer)
    await check_endpoint_allowed(sub.endpoint, _runtime(request).transport.blocked)
    return WebhookWithSecret.of(sub)


@router.get(
    "/api/v0/webhooks",
    summary="Your subscriptions (a registry admin's: every one)",
    response_model=list[Webhook],
    responses=errors(400, 401),
)
async def list_webhooks(
    request: Request,
    principal: Caller,
    session: UnitOfWork,
    response: Response,
    params: Annotated[pagination.PageParams, Depends(list_params)],
    webhookType: Annotated[str | None, Query(description="An event type, or any.")] = None,
) -> list[Webhook] | Response:
    stmt = service.visible_subscriptions(principal, webhookType)
    return await subscriptions_answer(request, session, response, stmt, params)


@router.get(
    "/api/v0/webhooks/schemas/{event_type}",
    summary="The JSON Schema of an event's payload",
    # Answered as built (not re-serialized through the model, which only documents it).
    response_model=None,
    responses={200: {"model": PayloadSchema, "description": "A JSON Schema."}, **errors(400)},
)
async def webhook_schema(event_type: str) -> dict[str, Any]:
    rtype = service.resolve_type(event_type)
    return event_schema(rtype.event_type)


_UPDATE_SCHEMA = WebhookUpdate.model_json_schema()
_UPDATE_MEDIA = {
    "schema": {"anyOf": [_UPDATE_SCHEMA, {"type": "array", "items": _UPDATE_SCHEMA}]},
    "example": _UPDATE_SCHEMA["examples"][0],
}
_UPDATE_BODY = {"requestBody": {"required": True, "content": {"application/json": _UPDATE_MEDIA}}}


@router.post(
    "/api/v0/webhooks/update",
    summary="Change subscriptions (MSR: one item or a list)",
    response_model=list[Webhook],
    responses=errors(400, 401, 403, 404, 413),
    openapi_extra=_UPDATE_BODY,
)
async def update_webhooks(
    request: Request, principal: Caller, session: UnitOfWork
) -> list[Webhook]:
    body = parse_json(await request.body())
    items = [
        validated(WebhookUpdate, item) for item in (body if isinstance(body, list) else [body])
    ]
    sealer = sealer_for(services_of(request).settings)
    updated = [
        await service.apply_update(session, principal, item.id, item, sealer=sealer)
        for item in items
    ]
    return [Webhook.of(s) for s in updated]


_TEST_KIND = {
    ErrorKind.TIMEOUT: "timeout",
    ErrorKind.TLS: "tls",
    ErrorKind.NETWORK: "network",
    ErrorKind.BLOCKED: "blocked",
}


@router.post(
    "/api/v0/webhooks/test",
    summary="Send a sample event once to an endpoint",
    response_model=TestDelivery,
    responses=errors(400, 401, 413, 429),
    openapi_extra=body_doc(WebhookTest),
)
async def test_webhook(
    request: Request,
    principal: Caller,
    form: Annotated[WebhookTest, Depends(_body(WebhookTest))],
) -> TestDelivery:
    runtime = _runtime(request)
    await runtime.check_rate(services_of(request).sessionmaker, principal.account_id)
    result = await runtime.send_test(
        form.resolved, form.endpoint, form.tlsCert, form.skipTLSVerification
    )
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


@router.get(
    "/api/v0/webhooks/{webhook_id}",
    summary="A subscription",
    response_model=Webhook,
    responses=errors(401, 403, 404),
)
async def get_webhook(webhook_id: str, principal: Caller, session: UnitOfWork) -> Webhook:
    return Webhook.of(await service.get_manageable(session, principal, webhook_id))


@router.patch(
    "/api/v0/webhooks/{webhook_id}",
    summary="Change a subscription, its endpoint included (dockyard)",
    response_model=Webhook,
    responses=errors(400, 401, 403, 404, 413),
    openapi_extra=body_doc(WebhookPatch),
)
async def patch_webhook(
    request: Request,
    webhook_id: str,
    principal: Caller,
    form: Annotated[WebhookPatch, Depends(_body(WebhookPatch))],
    session: UnitOfWork,
) -> Webhook:
    sealer = sealer_for(services_of(request).settings)
    sub = await service.apply_update(
        session, principal, webhook_id, form, endpoint=form.endpoint, sealer=sealer
    )
    if form.endpoint is not None:
        await check_endpoint_allowed(sub.endpoint, _runtime(request).transport.blocked)
    return Webhook.of(sub)


@router.delete(
    "/api/v0/webhooks/{webhook_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a subscription and its delivery log",
    responses=errors(401, 403, 404),
)
async def delete_webhook(webhook_id: str, principal: Caller, session: UnitOfWork) -> Response:
    await service.delete_subscription(session, principal, webhook_id)
    return Response(status_code=204)


@router.post(
    "/api/v0/webhooks/{webhook_id}/rotateSecret",
    summary="A new signing secret; the old one signs alongside for 24 hours (dockyard)",
    response_model=WebhookWithSecret,
    responses=errors(401, 403, 404),
)
async def rotate_secret(
    webhook_id: str, principal: Caller, session: UnitOfWork
) -> WebhookWithSecret:
    return WebhookWithSecret.of(await service.rotate_secret(session, principal, webhook_id))


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
    summary="A subscription's deliveries, newest first (dockyard)",
    response_model=list[DeliveryOut],
    responses=errors(400, 401, 403, 404),
)
async def list_deliveries(
    webhook_id: str,
    response: Response,
    principal: Caller,
    session: UnitOfWork,
    paging: Annotated[tuple[int, int, bool], Depends(_page_params)],
    status: Annotated[str | None, Query(description="pending, delivered or failed.")] = None,
) -> list[DeliveryOut]:
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
    response_model=DeliveryOut,
    responses=errors(401, 403, 404),
)
async def get_delivery(
    webhook_id: str, delivery_id: str, principal: Caller, session: UnitOfWork
) -> DeliveryOut:
    sub = await service.get_manageable(session, principal, webhook_id)
    return await history.delivery_detail(
        session, await history.get_delivery(session, sub, delivery_id)
    )


@router.post(
    "/api/v0/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    summary="Send a delivery again, with a fresh retry budget (dockyard)",
    response_model=DeliveryOut,
    responses=errors(401, 403, 404),
)
async def redeliver(
    webhook_id: str, delivery_id: str, principal: Caller, session: UnitOfWork
) -> DeliveryOut:
    sub = await service.get_manageable(session, principal, webhook_id)
    delivery = await history.redeliver_one(session, sub, delivery_id)
    return await history.delivery_detail(session, delivery)


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
    form: Annotated[RedeliverRequest, Depends(_body(RedeliverRequest))],
    session: UnitOfWork,
) -> Redelivered:
    sub = await service.get_manageable(session, principal, webhook_id)
    return Redelivered(redelivered=await history.redeliver_bulk(session, sub, form))


@router.get(
    "/api/v0/repositories/{namespace}/{repository}/webhooks",
    summary="The subscriptions on a repository (repository admins)",
    response_model=list[Webhook],
    responses=errors(401, 403, 404),
)
async def repository_webhooks(
    request: Request,
    namespace: str,
    repository: str,
    principal: Caller,
    session: UnitOfWork,
    response: Response,
    params: Annotated[pagination.PageParams, Depends(list_params)],
) -> list[Webhook] | Response:
    stmt = await service.repository_subscriptions(session, principal, namespace, repository)
    return await subscriptions_answer(request, session, response, stmt, params)


@router.get(
    "/api/v0/repositories/{namespace}/webhooks",
    summary="The subscriptions on a namespace and its repositories (namespace owners)",
    response_model=list[Webhook],
    responses=errors(401, 403, 404),
)
@router.get(
    "/api/v0/accounts/{namespace}/webhooks",
    summary="The subscriptions on a namespace and its repositories (namespace owners)",
    response_model=list[Webhook],
    responses=errors(401, 403, 404),
)
async def namespace_webhooks(
    request: Request,
    namespace: str,
    principal: Caller,
    session: UnitOfWork,
    response: Response,
    params: Annotated[pagination.PageParams, Depends(list_params)],
) -> list[Webhook] | Response:
    stmt = await service.namespace_subscriptions(session, principal, namespace)
    return await subscriptions_answer(request, session, response, stmt, params)


@router.get("/metrics", include_in_schema=False, dependencies=[Depends(metrics_access)])
async def prometheus_metrics(session: UnitOfWork) -> Response:
    await metrics.refresh_gauges(session, utcnow())
    return Response(metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")
