"""HTTP routes of webhooks: MSR's /api/v0/webhooks API, dockyard's extensions (PATCH, secret
rotation, delivery log, redelivery, JSON Schemas) and /metrics. Thin: parse, call the
service, shape the answer."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from dockyard.accounts.principal import Principal
from dockyard.auth.deps import metrics_access, require_principal, services_of
from dockyard.clock import utcnow
from dockyard.errors import DockyardError, ErrorCode
from dockyard.events.schemas import event_schema
from dockyard.webhooks import history, metrics, service
from dockyard.webhooks.delivery import failure_message
from dockyard.webhooks.retry import ErrorKind
from dockyard.webhooks.runtime import WebhookRuntime
from dockyard.webhooks.transport import (
    check_endpoint_allowed,
    validate_endpoint,
    validate_tls_cert,
)

router = APIRouter()
Caller = Depends(require_principal)


async def _json(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        # RecursionError: nesting deeper than the interpreter's stack allows is bad input too.
        raise DockyardError(ErrorCode.INVALID_JSON, detail={"problem": str(exc)[:200]}) from exc


def _runtime(request: Request) -> WebhookRuntime:
    runtime: WebhookRuntime = request.app.state.webhook_runtime
    return runtime


def _wire_list(subs: Any) -> list[dict[str, Any]]:
    return [service.subscription_wire(s) for s in subs]


@router.post("/api/v0/webhooks", status_code=201)
async def create_webhook(request: Request, principal: Principal = Caller) -> JSONResponse:
    body = await _json(request)
    services = services_of(request)
    async with services.session() as session:
        limits = service.Limits.of(services.settings)
        sub = await service.create_subscription(session, principal, body, limits=limits)
        await check_endpoint_allowed(sub.endpoint, _runtime(request).transport.blocked)
        await session.commit()
    return JSONResponse(service.subscription_wire(sub, include_secret=True), status_code=201)


@router.get("/api/v0/webhooks")
async def list_webhooks(
    request: Request, webhookType: str | None = None, principal: Principal = Caller
) -> list[dict[str, Any]]:
    async with services_of(request).session() as session:
        return _wire_list(await service.list_visible(session, principal, webhookType))


@router.get("/api/v0/webhooks/schemas/{event_type}")
async def webhook_schema(event_type: str) -> dict[str, Any]:
    rtype = service.resolve_type(event_type)
    return event_schema(rtype.event_type)


@router.post("/api/v0/webhooks/update")
async def update_webhooks(request: Request, principal: Principal = Caller) -> list[dict[str, Any]]:
    body = await _json(request)
    items = body if isinstance(body, list) else [body]
    async with services_of(request).session() as session:
        updated = [
            await service.apply_update(session, principal, item, allow_endpoint=False)
            for item in items
        ]
        await session.commit()
    return _wire_list(updated)


_TEST_KIND = {
    ErrorKind.TIMEOUT: "timeout",
    ErrorKind.TLS: "tls",
    ErrorKind.NETWORK: "network",
    ErrorKind.BLOCKED: "blocked",
}


@router.post("/api/v0/webhooks/test")
async def test_webhook(request: Request, principal: Principal = Caller) -> dict[str, Any]:
    body = service.require_object(await _json(request))
    if "type" not in body:
        raise DockyardError(ErrorCode.INVALID_PARAMETERS, "type is required.")
    rtype = service.resolve_type(body.get("type"))
    endpoint = validate_endpoint(body.get("endpoint"))
    tls_cert = validate_tls_cert(service.optional_str(body, "tlsCert"))
    skip = service.optional_bool(body, "skipTLSVerification") or False
    runtime = _runtime(request)
    runtime.check_rate(principal.account_id)
    result = await runtime.send_test(rtype, endpoint, tls_cert, skip)
    answer = {
        "statusCode": result.status,
        "latencyMs": round(result.latency_ms, 1),
        "response": result.excerpt,
    }
    if result.ok:
        return answer
    if result.status is not None:
        kind = "status"
    else:
        kind = _TEST_KIND.get(result.error_kind or ErrorKind.NETWORK, "network")
    raise DockyardError(
        ErrorCode.WEBHOOK_TEST_FAILED,
        failure_message(result),
        detail={**answer, "kind": kind, "error": result.error},
    )


@router.get("/api/v0/webhooks/{webhook_id}")
async def get_webhook(
    request: Request, webhook_id: str, principal: Principal = Caller
) -> dict[str, Any]:
    async with services_of(request).session() as session:
        sub = await service.get_manageable(session, principal, webhook_id)
        return service.subscription_wire(sub)


@router.patch("/api/v0/webhooks/{webhook_id}")
async def patch_webhook(
    request: Request, webhook_id: str, principal: Principal = Caller
) -> dict[str, Any]:
    body = service.require_object(await _json(request))
    async with services_of(request).session() as session:
        sub = await service.apply_update(
            session, principal, {**body, "id": webhook_id}, allow_endpoint=True
        )
        if "endpoint" in body:
            await check_endpoint_allowed(sub.endpoint, _runtime(request).transport.blocked)
        await session.commit()
        return service.subscription_wire(sub)


@router.delete("/api/v0/webhooks/{webhook_id}", status_code=204)
async def delete_webhook(
    request: Request, webhook_id: str, principal: Principal = Caller
) -> Response:
    async with services_of(request).session() as session:
        await service.delete_subscription(session, principal, webhook_id)
        await session.commit()
    return Response(status_code=204)


@router.post("/api/v0/webhooks/{webhook_id}/rotateSecret")
async def rotate_secret(
    request: Request, webhook_id: str, principal: Principal = Caller
) -> dict[str, Any]:
    async with services_of(request).session() as session:
        sub = await service.rotate_secret(session, principal, webhook_id)
        await session.commit()
        return service.subscription_wire(sub, include_secret=True)


def _page_params(request: Request) -> tuple[int, int, bool]:
    q = request.query_params
    try:
        start = int(q.get("pageStart") or 0)
        size = int(q.get("pageSize") or 10)
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
    return start, size, q.get("count", "").lower() in ("1", "true", "yes")


@router.get("/api/v0/webhooks/{webhook_id}/deliveries")
async def list_deliveries(
    request: Request, webhook_id: str, principal: Principal = Caller
) -> JSONResponse:
    start, size, count = _page_params(request)
    async with services_of(request).session() as session:
        sub = await service.get_manageable(session, principal, webhook_id)
        page, next_start, total = await history.list_deliveries(
            session,
            sub,
            status=request.query_params.get("status"),
            page_start=start,
            page_size=size,
        )
    headers = {}
    if next_start is not None:
        headers["X-Next-Page-Start"] = str(next_start)
    if count:
        headers["X-Resource-Count"] = str(total)
    return JSONResponse(page, headers=headers)


@router.get("/api/v0/webhooks/{webhook_id}/deliveries/{delivery_id}")
async def get_delivery(
    request: Request, webhook_id: str, delivery_id: str, principal: Principal = Caller
) -> dict[str, Any]:
    async with services_of(request).session() as session:
        sub = await service.get_manageable(session, principal, webhook_id)
        d = await history.get_delivery(session, sub, delivery_id)
        return await history.delivery_detail(session, d)


@router.post("/api/v0/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", status_code=202)
async def redeliver(
    request: Request, webhook_id: str, delivery_id: str, principal: Principal = Caller
) -> JSONResponse:
    async with services_of(request).session() as session:
        sub = await service.get_manageable(session, principal, webhook_id)
        d = await history.redeliver_one(session, sub, delivery_id)
        await session.commit()
        detail = await history.delivery_detail(session, d)
    return JSONResponse(detail, status_code=202)


@router.post("/api/v0/webhooks/{webhook_id}/redeliver", status_code=202)
async def redeliver_bulk(
    request: Request, webhook_id: str, principal: Principal = Caller
) -> JSONResponse:
    body = await _json(request)
    async with services_of(request).session() as session:
        sub = await service.get_manageable(session, principal, webhook_id)
        count = await history.redeliver_bulk(session, sub, body)
        await session.commit()
    return JSONResponse({"redelivered": count}, status_code=202)


@router.get("/api/v0/repositories/{namespace}/{repository}/webhooks")
async def repository_webhooks(
    request: Request, namespace: str, repository: str, principal: Principal = Caller
) -> list[dict[str, Any]]:
    async with services_of(request).session() as session:
        subs = await service.list_for_repository(session, principal, namespace, repository)
        return _wire_list(subs)


@router.get("/api/v0/repositories/{namespace}/webhooks")
@router.get("/api/v0/accounts/{namespace}/webhooks")
async def namespace_webhooks(
    request: Request, namespace: str, principal: Principal = Caller
) -> list[dict[str, Any]]:
    async with services_of(request).session() as session:
        return _wire_list(await service.list_for_namespace(session, principal, namespace))


@router.get("/metrics", include_in_schema=False, dependencies=[Depends(metrics_access)])
async def prometheus_metrics(request: Request) -> Response:
    async with services_of(request).session() as session:
        await metrics.refresh_gauges(session, utcnow())
    return Response(metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")
