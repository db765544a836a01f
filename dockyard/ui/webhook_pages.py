"""Webhook pages: the repository Webhooks tab, namespace (REPO_EVENT) and global (admin)
subscriptions, a subscription's deliveries. webhooks.service decides everything; the Test
button calls the API from the browser (static/app.js)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from dockyard.accounts.service import get_account
from dockyard.accounts.sessions import set_flash, take_flash
from dockyard.auth.access import namespace_access
from dockyard.clock import utcnow
from dockyard.errors import DockyardError, ErrorCode
from dockyard.events.types import EVENT_TYPES, REPO_EVENT_ALIASES, EventType, Scope
from dockyard.rules.permissions import AccessLevel
from dockyard.ui.queries import account_names
from dockyard.ui.render import (
    FORBIDDEN,
    Page,
    UiError,
    form_value,
    not_found,
    page_context,
    redirect,
    render,
)
from dockyard.ui.repo_pages import RepoView, load_repo
from dockyard.webhooks import history
from dockyard.webhooks import service as webhooks
from dockyard.webhooks.models import Subscription
from dockyard.webhooks.schemas import RedeliverRequest, WebhookChanges, WebhookCreate

router = APIRouter()

_REPO_EVENT_LABELS = {
    "REPO_CREATED": "Repository created",
    "REPO_UPDATED": "Repository updated",
    "REPO_DELETED": "Repository deleted",
}


@dataclass(frozen=True)
class Scoped:
    """Where a list of subscriptions lives: a repository, a namespace, or the whole registry."""

    kind: str  # repository | namespace | global
    key: str
    base: str  # the list page's URL
    title: str
    events: list[tuple[str, str]]
    view: RepoView | None = None


def _choices(scope: str) -> list[tuple[str, str]]:
    repo_events = [
        (t.value, f"{info.label} ({t.value})")
        for t, info in EVENT_TYPES.items()
        if info.scope is Scope.REPOSITORY
    ]
    ns_events = [(EventType.REPO_EVENT.value, f"{EVENT_TYPES[EventType.REPO_EVENT].label}")]
    ns_events += [(alias, _REPO_EVENT_LABELS.get(alias, alias)) for alias in REPO_EVENT_ALIASES]
    if scope == "repository":
        return repo_events
    if scope == "namespace":
        return ns_events
    scanner = EventType.SCANNER_UPDATE_COMPLETED
    return [(scanner.value, EVENT_TYPES[scanner].label), *repo_events, *ns_events]


async def _repo_scope(page: Page, namespace: str, name: str) -> Scoped:
    view = await load_repo(page, namespace, name)
    if not view.is_admin:
        raise FORBIDDEN
    key = view.repo.full_name
    return Scoped(
        "repository",
        key,
        f"/repositories/{key}/webhooks",
        key,
        _choices("repository"),
        view,
    )


async def _namespace_scope(page: Page, namespace: str) -> Scoped:
    async with page.services.session() as session:
        account = await get_account(session, namespace)
        if account is None or account.name != namespace:
            raise not_found(f"The namespace {namespace}")
        if await namespace_access(session, page.user, account) < AccessLevel.ADMIN:
            raise FORBIDDEN
    return Scoped(
        "namespace", namespace, f"/orgs/{namespace}/webhooks", namespace, _choices("namespace")
    )


def _global_scope(page: Page) -> Scoped:
    if not page.user.is_admin:
        raise FORBIDDEN
    return Scoped("global", "", "/admin/webhooks", "the whole registry", _choices("global"))


async def _subscriptions(page: Page, scope: Scoped) -> Sequence[Subscription]:
    async with page.services.session() as session:
        if scope.kind == "repository":
            ns, _, name = scope.key.partition("/")
            return await webhooks.list_for_repository(session, page.user, ns, name)
        if scope.kind == "namespace":
            subs = await webhooks.list_for_namespace(session, page.user, scope.key)
            return [s for s in subs if s.key == scope.key]
        return [s for s in await webhooks.list_visible(session, page.user, None) if not s.key]


async def _list_page(page: Page, scope: Scoped, status: int = 200, **extra: Any) -> Response:
    subs = await _subscriptions(page, scope)
    async with page.services.session() as session:
        authors = await account_names(session, sorted({s.author_id for s in subs}))
    msg = {
        "deleted": "The webhook was deleted. It will receive nothing more.",
        "activated": "The webhook is active again.",
        "deactivated": "The webhook is inactive: events are not sent to it until you activate it.",
    }.get(page.request.query_params.get("msg", ""))
    return render(
        page,
        "webhooks.html",
        status=status,
        scope=scope,
        view=scope.view,
        tab="webhooks",
        subs=subs,
        authors=authors,
        msg=msg,
        **extra,
    )


def _form_page(
    page: Page, scope: Scoped, values: dict[str, Any], error: str | None, status: int = 200
) -> Response:
    return render(
        page,
        "webhook_new.html",
        status=status,
        scope=scope,
        view=scope.view,
        tab="webhooks",
        values=values,
        error=error,
    )


async def _create(page: Page, scope: Scoped) -> Response:
    form = await page.check_csrf()
    values = {
        "type": form_value(form, "type"),
        "endpoint": form_value(form, "endpoint"),
        "tlsCert": str(form.get("tlsCert", "")).strip(),
        "skipTLSVerification": form.get("skipTLSVerification") == "on",
    }
    if values["type"] not in {value for value, _ in scope.events}:
        return _form_page(page, scope, values, "Choose an event from the list.", 400)
    body = {**values, "key": scope.key}
    if not body["key"]:
        body.pop("key")
    async with page.services.session() as session:
        try:
            sub = await webhooks.create_subscription(
                session,
                page.user,
                WebhookCreate.model_validate(body),
                limits=webhooks.Limits.of(page.services.settings),
            )
        except DockyardError as exc:
            await session.rollback()
            return _form_page(page, scope, values, _explain(exc), 400)
        sub_id = sub.id
        if page.session.token:
            # Post/redirect/get: the secret is shown by the GET below, once, so reloading the
            # result page neither creates a second webhook nor shows the secret again.
            await set_flash(session, page.session.token, sub_id)
        await session.commit()
    return redirect(page, f"/webhooks/{sub_id}/created")


async def _scope_of(page: Page, sub: Subscription) -> Scoped:
    if "/" in sub.key:
        namespace, _, name = sub.key.partition("/")
        return await _repo_scope(page, namespace, name)
    if sub.key:
        return await _namespace_scope(page, sub.key)
    return _global_scope(page)


@router.get("/webhooks/{webhook_id}/created")
async def created(webhook_id: str, page: Page = Depends(page_context)) -> Response:
    """The new webhook and its signing secret, on the first GET after creating it only."""
    page.user  # noqa: B018  (signed-in only: the notice lives in the server-side session)
    async with page.services.session() as session:
        sub = await _manageable(page, session, webhook_id)
        scope = await _scope_of(page, sub)
        token = page.session.token
        shown = token is not None and await take_flash(session, token, sub.id)
        await session.commit()
        values = {"type": sub.type, "endpoint": sub.endpoint}
        secret = sub.secret
    if not shown:
        # A reload, or a link shared later: the secret was shown once; the webhook's page has
        # everything else (and Rotate secret through the API when it was lost).
        return redirect(page, f"/webhooks/{webhook_id}")
    return render(
        page,
        "webhook_created.html",
        scope=scope,
        view=scope.view,
        tab="webhooks",
        secret=secret,
        sub_id=webhook_id,
        values=values,
    )


def _explain(exc: DockyardError) -> str:
    if exc.code is ErrorCode.WEBHOOK_ENDPOINT_BLOCKED:
        return (
            f"{exc.message} dockyard refuses to send webhooks to this address (see "
            "DOCKYARD_WEBHOOK_BLOCKED_NETWORKS). Use an address your administrator allows."
        )
    if exc.code is ErrorCode.INVALID_TLS_CERT:
        return (
            "The TLS certificate is not a valid PEM certificate. Paste the whole block, "
            "from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----."
        )
    if exc.code is ErrorCode.INVALID_WEBHOOK_ENDPOINT:
        return f"{exc.message} Enter a full URL such as https://ci.example.com/hooks/registry."
    return exc.message


# -- repository scope ---------------------------------------------------------------------------


@router.get("/repositories/{namespace}/{name}/webhooks")
async def repo_webhooks(namespace: str, name: str, page: Page = Depends(page_context)) -> Response:
    return await _list_page(page, await _repo_scope(page, namespace, name))


@router.get("/repositories/{namespace}/{name}/webhooks/new")
async def repo_webhook_form(
    namespace: str, name: str, page: Page = Depends(page_context)
) -> Response:
    scope = await _repo_scope(page, namespace, name)
    return _form_page(page, scope, {"type": EventType.TAG_PUSH.value}, None)


@router.post("/repositories/{namespace}/{name}/webhooks")
async def repo_webhook_create(
    namespace: str, name: str, page: Page = Depends(page_context)
) -> Response:
    return await _create(page, await _repo_scope(page, namespace, name))


# -- namespace scope ----------------------------------------------------------------------------


@router.get("/orgs/{namespace}/webhooks")
async def ns_webhooks(namespace: str, page: Page = Depends(page_context)) -> Response:
    return await _list_page(page, await _namespace_scope(page, namespace))


@router.get("/orgs/{namespace}/webhooks/new")
async def ns_webhook_form(namespace: str, page: Page = Depends(page_context)) -> Response:
    scope = await _namespace_scope(page, namespace)
    return _form_page(page, scope, {"type": EventType.REPO_EVENT.value}, None)


@router.post("/orgs/{namespace}/webhooks")
async def ns_webhook_create(namespace: str, page: Page = Depends(page_context)) -> Response:
    return await _create(page, await _namespace_scope(page, namespace))


# -- global (admin) -----------------------------------------------------------------------------


@router.get("/admin/webhooks")
async def global_webhooks(page: Page = Depends(page_context)) -> Response:
    return await _list_page(page, _global_scope(page))


@router.get("/admin/webhooks/new")
async def global_webhook_form(page: Page = Depends(page_context)) -> Response:
    scope = _global_scope(page)
    return _form_page(page, scope, {"type": EventType.SCANNER_UPDATE_COMPLETED.value}, None)


@router.post("/admin/webhooks")
async def global_webhook_create(page: Page = Depends(page_context)) -> Response:
    return await _create(page, _global_scope(page))


# -- one subscription ---------------------------------------------------------------------------


def _back(form: dict[str, Any], fallback: str) -> str:
    target = form_value(form, "next")
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return fallback


@router.post("/webhooks/{webhook_id}/state")
async def set_state(webhook_id: str, page: Page = Depends(page_context)) -> Response:
    form = await page.check_csrf()
    inactive = form_value(form, "action") == "deactivate"
    async with page.services.session() as session:
        try:
            was_inactive = (await webhooks.get_manageable(session, page.user, webhook_id)).inactive
            sub = await webhooks.apply_update(
                session, page.user, webhook_id, WebhookChanges(inactive=inactive)
            )
            if sub.inactive and not was_inactive:
                # Say who did it and where: the list and the API show this reason.
                sub.inactive_reason = f"Deactivated in the web UI by {page.user.name}."
            await session.commit()
        except DockyardError:
            raise not_found("The webhook") from None
    msg = "deactivated" if inactive else "activated"
    target = _back(form, "/repositories")
    sep = "&" if "?" in target else "?"
    return redirect(page, f"{target}{sep}msg={msg}")


@router.post("/webhooks/{webhook_id}/delete")
async def delete(webhook_id: str, page: Page = Depends(page_context)) -> Response:
    form = await page.check_csrf()
    async with page.services.session() as session:
        try:
            await webhooks.delete_subscription(session, page.user, webhook_id)
            await session.commit()
        except DockyardError:
            raise not_found("The webhook") from None
    target = _back(form, "/repositories")
    if target.startswith(f"/webhooks/{webhook_id}"):
        target = "/repositories"
    sep = "&" if "?" in target else "?"
    return redirect(page, f"{target}{sep}msg=deleted")


PAGE_SIZE = 25


def _scope_url(sub: Subscription) -> str:
    if "/" in sub.key:
        return f"/repositories/{sub.key}/webhooks"
    if sub.key:
        return f"/orgs/{sub.key}/webhooks"
    return "/admin/webhooks"


async def _manageable(page: Page, session: Any, webhook_id: str) -> Subscription:
    try:
        return await webhooks.get_manageable(session, page.user, webhook_id)
    except DockyardError as exc:
        if exc.code is ErrorCode.NOT_AUTHORIZED:
            raise FORBIDDEN from None
        raise not_found("The webhook") from None


@router.get("/webhooks/{webhook_id}")
async def subscription_page(
    webhook_id: str,
    status: str = "",
    page_no: int = 1,
    page: Page = Depends(page_context),
) -> Response:
    page_no = max(page_no, 1)
    if status not in ("", "pending", "delivered", "failed"):
        status = ""
    async with page.services.session() as session:
        sub = await _manageable(page, session, webhook_id)
        deliveries, next_start, total = await history.list_deliveries(
            session,
            sub,
            status=status or None,
            page_start=(page_no - 1) * PAGE_SIZE,
            page_size=PAGE_SIZE,
        )
        authors = await account_names(session, [sub.author_id])
    since_default = (utcnow() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    msg = page.request.query_params.get("msg", "")
    notice = {
        "redelivered": "The delivery is queued again; it is sent within moments.",
        "activated": "The webhook is active again.",
        "deactivated": "The webhook is inactive: events are not sent to it until you activate it.",
    }.get(msg)
    if msg.startswith("bulk-"):
        count = msg.removeprefix("bulk-")
        notice = (
            f"{count} failed or retrying "
            f"{'delivery is' if count == '1' else 'deliveries are'} queued again."
            if count != "0"
            else "No failed or retrying deliveries in that period: nothing to redeliver."
        )
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
        back=_scope_url(sub),
        since_default=since_default,
        msg=notice,
        error=None,
    )


@router.post("/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver")
async def redeliver_one(
    webhook_id: str, delivery_id: str, page: Page = Depends(page_context)
) -> Response:
    await page.check_csrf()
    async with page.services.session() as session:
        sub = await _manageable(page, session, webhook_id)
        try:
            await history.redeliver_one(session, sub, delivery_id)
        except DockyardError:
            raise not_found("The delivery") from None
        await session.commit()
    return redirect(page, f"/webhooks/{webhook_id}?msg=redelivered")


@router.post("/webhooks/{webhook_id}/redeliver")
async def redeliver_failed(webhook_id: str, page: Page = Depends(page_context)) -> Response:
    form = await page.check_csrf()
    since = form_value(form, "since")
    # <input type="datetime-local"> has no zone: the page says the time is UTC.
    if len(since) == 16:
        since += ":00"
    async with page.services.session() as session:
        sub = await _manageable(page, session, webhook_id)
        try:
            wanted = RedeliverRequest.model_validate({"since": f"{since}Z", "status": "failed"})
            count = await history.redeliver_bulk(session, sub, wanted)
        except DockyardError:
            raise UiError(
                400,
                "That time is not valid",
                "Choose a date and time (UTC) in the “Redeliver failed since” field.",
            ) from None
        await session.commit()
    return redirect(page, f"/webhooks/{webhook_id}?msg=bulk-{count}")
