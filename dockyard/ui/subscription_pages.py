"""One webhook subscription's pages: its deliveries (filtered and paged, each attempt with the
request it sent), activate/deactivate, delete, redelivering one delivery or every failed one
since a time, replaying the events since a time, and a signed test send. webhooks.service,
webhooks.history and webhooks.replay decide everything. Each page's database work is the
request's unit of work (committed when the page returns, before its redirect is sent); the test
send holds no session while the endpoint answers.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from dockyard.api.uow import UnitOfWork, unit_of_work_scope
from dockyard.clock import utcnow
from dockyard.errors import DockyardError
from dockyard.ui.queries import account_names
from dockyard.ui.render import Page, UiError, form_value, not_found, page_context, redirect, render
from dockyard.ui.webhook_scope import manageable, scope_url
from dockyard.webhooks import history, replay
from dockyard.webhooks import service as webhooks
from dockyard.webhooks.checks import parse_time
from dockyard.webhooks.delivery import failure_message
from dockyard.webhooks.runtime import WebhookRuntime
from dockyard.webhooks.schemas import RedeliverRequest, WebhookChanges
from dockyard.webhooks.subscription_test import SendTarget, send_signed_test

router = APIRouter()

PAGE_SIZE = 25

_NOTICES = {
    "redelivered": "The delivery is queued again; it is sent within moments.",
    "activated": "The webhook is active again.",
    "deactivated": "The webhook is inactive: events are not sent to it until you activate it.",
    "test-ok": "The receiver accepted the signed test payload.",
}


def _back(form: dict[str, Any], fallback: str) -> str:
    target = form_value(form, "next")
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return fallback


@router.post("/webhooks/{webhook_id}/state")
async def set_state(
    webhook_id: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    form = await page.check_csrf()
    inactive = form_value(form, "action") == "deactivate"
    try:
        was_inactive = (await webhooks.get_manageable(session, page.user, webhook_id)).inactive
        sub = await webhooks.apply_update(
            session, page.user, webhook_id, WebhookChanges(inactive=inactive)
        )
    except DockyardError:
        raise not_found("The webhook") from None
    if sub.inactive and not was_inactive:
        # Say who did it and where: the list and the API show this reason.
        sub.inactive_reason = f"Deactivated in the web UI by {page.user.name}."
    msg = "deactivated" if inactive else "activated"
    target = _back(form, "/repositories")
    sep = "&" if "?" in target else "?"
    return redirect(page, f"{target}{sep}msg={msg}")


@router.post("/webhooks/{webhook_id}/delete")
async def delete(
    webhook_id: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    form = await page.check_csrf()
    try:
        await webhooks.delete_subscription(session, page.user, webhook_id)
    except DockyardError:
        raise not_found("The webhook") from None
    target = _back(form, "/repositories")
    if target.startswith(f"/webhooks/{webhook_id}"):
        target = "/repositories"
    sep = "&" if "?" in target else "?"
    return redirect(page, f"{target}{sep}msg=deleted")


def _notice(msg: str) -> str | None:
    """The message a redirect asked the subscription page to show."""
    if msg.startswith("replay-"):
        count, _, more = msg.removeprefix("replay-").partition("-")
        if not count.isdigit():
            return None
        told = f"{count} {'event is' if count == '1' else 'events are'} queued again as replays."
        return told + (" More remain: replay again from the last one's time." if more else "")
    if not msg.startswith("bulk-"):
        return _NOTICES.get(msg)
    count = msg.removeprefix("bulk-")
    if count == "0":
        return "No failed or retrying deliveries in that period: nothing to redeliver."
    return (
        f"{count} failed or retrying "
        f"{'delivery is' if count == '1' else 'deliveries are'} queued again."
    )


@router.get("/webhooks/{webhook_id}")
async def subscription_page(
    webhook_id: str,
    session: UnitOfWork,
    status: str = "",
    page_no: int = 1,
    page: Page = Depends(page_context),
) -> Response:
    page_no = max(page_no, 1)
    if status not in ("", "pending", "delivered", "failed"):
        status = ""
    sub = await manageable(page, session, webhook_id)
    deliveries, next_start, total = await history.list_deliveries(
        session,
        sub,
        status=status or None,
        page_start=(page_no - 1) * PAGE_SIZE,
        page_size=PAGE_SIZE,
    )
    authors = await account_names(session, [sub.author_id])
    since_default = (utcnow() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    return render(
        page,
        "subscription.html",
        sub=sub,
        author=authors.get(sub.author_id, "deleted user"),
        deliveries=deliveries,
        total=total,
        page_no=page_no,
        has_next=next_start is not None,
        status_filter=status,
        back=scope_url(sub),
        since_default=since_default,
        retention_days=page.services.settings.event_retention_days,
        msg=_notice(page.request.query_params.get("msg", "")),
        error=None,
    )


@router.post("/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver")
async def redeliver_one(
    webhook_id: str, delivery_id: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    await page.check_csrf()
    sub = await manageable(page, session, webhook_id)
    try:
        await history.redeliver_one(session, sub, delivery_id)
    except DockyardError:
        raise not_found("The delivery") from None
    return redirect(page, f"/webhooks/{webhook_id}?msg=redelivered")


@router.post("/webhooks/{webhook_id}/redeliver")
async def redeliver_failed(
    webhook_id: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    form = await page.check_csrf()
    since = form_value(form, "since")
    # <input type="datetime-local"> has no zone: the page says the time is UTC.
    if len(since) == 16:
        since += ":00"
    sub = await manageable(page, session, webhook_id)
    try:
        wanted = RedeliverRequest.model_validate({"since": f"{since}Z", "status": "failed"})
        count = await history.redeliver_bulk(session, sub, wanted)
    except DockyardError:
        raise UiError(
            400,
            "That time is not valid",
            "Choose a date and time (UTC) in the “Redeliver failed since” field.",
        ) from None
    return redirect(page, f"/webhooks/{webhook_id}?msg=bulk-{count}")


def _since(form: dict[str, Any]) -> str:
    since = form_value(form, "since")
    # <input type="datetime-local"> has no zone: the page says the time is UTC.
    return f"{since}:00Z" if len(since) == 16 else f"{since}Z"


@router.post("/webhooks/{webhook_id}/replay")
async def replay_since(
    webhook_id: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    form = await page.check_csrf()
    sub = await manageable(page, session, webhook_id)
    now = utcnow()
    try:
        since = parse_time(_since(form), "since")
        replay.check_since(since, now, page.services.settings.event_retention_days)
        replay.check_active(sub)
    except DockyardError as exc:
        raise UiError(400, "Nothing was replayed", exc.message) from None
    done = await replay.replay(session, sub, since, now)
    more = "-more" if done.next_since is not None else ""
    return redirect(page, f"/webhooks/{webhook_id}?msg=replay-{done.queued}{more}")


@router.post("/webhooks/{webhook_id}/test")
async def send_test(webhook_id: str, page: Page = Depends(page_context)) -> Response:
    await page.check_csrf()
    services = page.services
    async with unit_of_work_scope(services) as session:
        target = SendTarget.of(await manageable(page, session, webhook_id))
    runtime: WebhookRuntime = page.request.app.state.webhook_runtime
    try:
        await runtime.check_rate(services.sessionmaker, page.user.account_id)
        result = await send_signed_test(runtime.transport, target, utcnow())
    except DockyardError as exc:
        raise UiError(exc.status, "The test was not sent", exc.message) from None
    if not result.ok:
        raise UiError(400, "The test failed", failure_message(result))
    return redirect(page, f"/webhooks/{webhook_id}?msg=test-ok")
