"""Webhook list pages and the creation flow: the repository Webhooks tab, namespace (REPO_EVENT)
and global (admin) subscriptions, the New webhook form and the page that shows a new webhook's
secret once. webhooks.service decides everything; `webhook_scope` says where a list lives and
who may manage it; one subscription's own pages are in `subscription_pages`. Each page's
database work is the request's unit of work (committed when the page returns, before its
redirect is sent).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts.sessions import set_flash, take_flash
from dockyard.api.uow import UnitOfWork
from dockyard.errors import DockyardError, ErrorCode
from dockyard.events.types import EventType
from dockyard.kit.sealing import sealer_for
from dockyard.ui.queries import account_names
from dockyard.ui.render import Page, form_value, page_context, redirect, render
from dockyard.ui.repo_pages import undo
from dockyard.ui.webhook_scope import (
    Scoped,
    global_scope,
    manageable,
    namespace_scope,
    repo_scope,
    scope_of,
)
from dockyard.ui.windows import Window, keyset_window
from dockyard.webhooks import service as webhooks
from dockyard.webhooks.models import Subscription
from dockyard.webhooks.schemas import WebhookCreate

router = APIRouter()


WEBHOOKS_PER_PAGE = 50


async def _subscriptions(page: Page, session: AsyncSession, scope: Scoped) -> Window[Subscription]:
    """One page of the scope's subscriptions (exactly its key: a repository's, a namespace's
    own, or the key-less registry-wide ones), oldest first, in SQL. The scope has checked that
    the caller may manage them."""
    start = page.request.query_params.get("start", "")
    begin = await webhooks.page_start(session, start)
    stmt = webhooks.keyed_subscriptions(scope.key)
    window = await keyset_window(session, stmt, webhooks.PAGE_ORDER, begin, WEBHOOKS_PER_PAGE)
    return window.map(lambda row: row[0], lambda row: row[0].id)


async def _list_page(page: Page, session: AsyncSession, scope: Scoped) -> Response:
    window = await _subscriptions(page, session, scope)
    subs = window.items
    authors = await account_names(session, sorted({s.author_id for s in subs}))
    msg = {
        "deleted": "The webhook was deleted. It will receive nothing more.",
        "activated": "The webhook is active again.",
        "deactivated": "The webhook is inactive: events are not sent to it until you activate it.",
    }.get(page.request.query_params.get("msg", ""))
    return render(
        page,
        "webhooks.html",
        scope=scope,
        view=scope.view,
        tab="webhooks",
        subs=subs,
        window=window,
        authors=authors,
        msg=msg,
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


def _explain(exc: DockyardError) -> str:
    if exc.code is ErrorCode.WEBHOOK_ENDPOINT_BLOCKED:
        return (
            f"{exc.message} dockyard refuses to send webhooks to this address (see "
            "DOCKYARD_WEBHOOK_BLOCKED_NETWORKS). Use an address your administrator allows."
        )
    field = exc.detail.get("field") if isinstance(exc.detail, dict) else None
    if exc.code is ErrorCode.INVALID_TLS_CERT and field in ("tlsClientCert", "tlsClientKey"):
        return f"{exc.message} Paste the whole PEM blocks of the certificate and its key."
    if exc.code is ErrorCode.INVALID_TLS_CERT:
        return (
            "The TLS certificate is not a valid PEM certificate. Paste the whole block, "
            "from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----."
        )
    if exc.code is ErrorCode.INVALID_WEBHOOK_ENDPOINT:
        return f"{exc.message} Enter a full URL such as https://ci.example.com/hooks/registry."
    return exc.message


async def _create(page: Page, session: AsyncSession, scope: Scoped) -> Response:
    form = await page.check_csrf()
    values = {
        "type": form_value(form, "type"),
        "endpoint": form_value(form, "endpoint"),
        "tlsCert": str(form.get("tlsCert", "")).strip(),
        "skipTLSVerification": form.get("skipTLSVerification") == "on",
        "tagFilter": form_value(form, "tagFilter"),
        "minSeverity": form_value(form, "minSeverity"),
        "format": form_value(form, "format") or "msr",
        "tlsClientCert": str(form.get("tlsClientCert", "")).strip(),
    }
    if values["type"] not in {value for value, _ in scope.events}:
        return _form_page(page, scope, values, "Choose an event from the list.", 400)
    # The private key is used, never shown again (not even in a form sent back with an error).
    body = {**values, "key": scope.key, "tlsClientKey": str(form.get("tlsClientKey", "")).strip()}
    for optional in ("key", "tagFilter", "minSeverity"):
        if not body[optional]:
            body.pop(optional)
    try:
        sub = await webhooks.create_subscription(
            session,
            page.user,
            WebhookCreate.model_validate(body),
            limits=webhooks.Limits.of(page.services.settings),
            sealer=sealer_for(page.services.settings),
        )
    except DockyardError as exc:
        await undo(session, scope.view)
        return _form_page(page, scope, values, _explain(exc), 400)
    if page.session.token:
        # Post/redirect/get: the secret is shown by the GET below, once, so reloading the
        # result page neither creates a second webhook nor shows the secret again.
        await set_flash(session, page.session.token, sub.id)
    return redirect(page, f"/webhooks/{sub.id}/created")


@router.get("/webhooks/{webhook_id}/created")
async def created(
    webhook_id: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    """The new webhook and its signing secret, on the first GET after creating it only."""
    page.user  # noqa: B018  (signed-in only: the notice lives in the server-side session)
    sub = await manageable(page, session, webhook_id)
    scope = await scope_of(page, session, sub)
    token = page.session.token
    shown = token is not None and await take_flash(session, token, sub.id)
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
        secret=sub.secret,
        sub_id=webhook_id,
        values={"type": sub.type, "endpoint": sub.endpoint, "format": sub.format},
    )


# -- repository scope ---------------------------------------------------------------------------


@router.get("/repositories/{namespace}/{name}/webhooks")
async def repo_webhooks(
    namespace: str, name: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    return await _list_page(page, session, await repo_scope(page, session, namespace, name))


@router.get("/repositories/{namespace}/{name}/webhooks/new")
async def repo_webhook_form(
    namespace: str, name: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    scope = await repo_scope(page, session, namespace, name)
    return _form_page(page, scope, {"type": EventType.TAG_PUSH.value}, None)


@router.post("/repositories/{namespace}/{name}/webhooks")
async def repo_webhook_create(
    namespace: str, name: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    return await _create(page, session, await repo_scope(page, session, namespace, name))


# -- namespace scope ----------------------------------------------------------------------------


@router.get("/orgs/{namespace}/webhooks")
async def ns_webhooks(
    namespace: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    return await _list_page(page, session, await namespace_scope(page, session, namespace))


@router.get("/orgs/{namespace}/webhooks/new")
async def ns_webhook_form(
    namespace: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    scope = await namespace_scope(page, session, namespace)
    return _form_page(page, scope, {"type": EventType.REPO_EVENT.value}, None)


@router.post("/orgs/{namespace}/webhooks")
async def ns_webhook_create(
    namespace: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    return await _create(page, session, await namespace_scope(page, session, namespace))


# -- global (admin) -----------------------------------------------------------------------------


@router.get("/admin/webhooks")
async def global_webhooks(session: UnitOfWork, page: Page = Depends(page_context)) -> Response:
    return await _list_page(page, session, global_scope(page))


@router.get("/admin/webhooks/new")
async def global_webhook_form(page: Page = Depends(page_context)) -> Response:
    scope = global_scope(page)
    return _form_page(page, scope, {"type": EventType.SCANNER_UPDATE_COMPLETED.value}, None)


@router.post("/admin/webhooks")
async def global_webhook_create(
    session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    return await _create(page, session, global_scope(page))
