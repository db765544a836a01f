"""HTTP routes of webhooks: MSR's /api/v0/webhooks API, dockyard's extensions (PATCH, secret
rotation, JSON Schemas; one subscription's delivery log, redelivery, replay and signed test in
`delivery_routes`, mounted here) and /metrics.

Thin: parse the body with `webhooks.schemas`, call the service, shape the answer with the same
module. The request's unit of work commits; no route commits or wakes anything by hand. Bodies
are read as JSON whatever their content type (MSR scripts send `curl -d` without one), after
the caller is authenticated; the OpenAPI document gets each body's model and example.
"""

from __future__ import annotations

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
from dockyard.events.schemas import event_schema
from dockyard.kit.sealing import sealer_for
from dockyard.webhooks import delivery_routes, metrics, service
from dockyard.webhooks.checks import parse_json
from dockyard.webhooks.delivery_routes import json_body, test_answer
from dockyard.webhooks.list_answers import list_params, subscriptions_answer
from dockyard.webhooks.runtime import WebhookRuntime
from dockyard.webhooks.schemas import (
    PayloadSchema,
    TestDelivery,
    Webhook,
    WebhookCreate,
    WebhookPatch,
    WebhookTest,
    WebhookUpdate,
    WebhookWithSecret,
    validated,
)
from dockyard.webhooks.transport import check_endpoint_allowed

M = TypeVar("M", bound=BaseModel)

router = APIRouter(tags=["webhooks"])
Caller = Annotated[Principal, Depends(require_principal)]
router.include_router(delivery_routes.router)


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
    form: Annotated[WebhookCreate, Depends(json_body(WebhookCreate))],
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
    form: Annotated[WebhookTest, Depends(json_body(WebhookTest))],
) -> TestDelivery:
    runtime = _runtime(request)
    await runtime.check_rate(services_of(request).sessionmaker, principal.account_id)
    result = await runtime.send_test(
        form.resolved, form.endpoint, form.tlsCert, form.skipTLSVerification
    )
    return test_answer(result)


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
    form: Annotated[WebhookPatch, Depends(json_body(WebhookPatch))],
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
