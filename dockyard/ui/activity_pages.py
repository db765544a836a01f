"""The Activity pages: a repository's recent events (its Activity tab) and a namespace's
(`/orgs/{namespace}/activity`), newest first, paged and filtered by kind, from the outbox
(`ui.activity`). A namespace's owners (and administrators) see every event in it; anyone else
sees the events of the repositories they may read, and a namespace they have nothing to see
in is not found."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from sqlalchemy import select

from dockyard.accounts.models import Account
from dockyard.api.uow import UnitOfWork
from dockyard.auth.access import namespace_access
from dockyard.events.models import OutboxEvent
from dockyard.repos.models import Repository
from dockyard.repos.service import readable_repositories
from dockyard.rules.permissions import AccessLevel
from dockyard.ui.activity import KINDS, namespace_activity, repository_activity
from dockyard.ui.render import Page, not_found, page_context, render
from dockyard.ui.repo_pages import load_repo

router = APIRouter()


@router.get("/repositories/{namespace}/{name}/activity")
async def repository_activity_page(
    namespace: str,
    name: str,
    session: UnitOfWork,
    kind: str = "",
    start: str = "",
    page: Page = Depends(page_context),
) -> Response:
    view = await load_repo(page, session, namespace, name)
    kind = kind if kind in KINDS else ""
    window = await repository_activity(session, view.repo, kind, start)
    base = f"/repositories/{namespace}/{name}/activity"
    return render(
        page, "activity.html", view=view, tab="activity", window=window, kind=kind,
        kinds=KINDS, base=base, scope=f"{namespace}/{name}", ns=None,
    )  # fmt: skip


@router.get("/orgs/{namespace}/activity")
async def namespace_activity_page(
    namespace: str,
    session: UnitOfWork,
    kind: str = "",
    start: str = "",
    page: Page = Depends(page_context),
) -> Response:
    principal = page.user
    account = await session.scalar(select(Account).where(Account.name == namespace))
    if account is None:
        raise not_found(f"The namespace {namespace}")
    readable = None
    if await namespace_access(session, principal, account) < AccessLevel.ADMIN:
        # Only the repositories this caller may read (the read rule's SQL rendering).
        names = readable_repositories(principal, account).with_only_columns(
            Repository.namespace + "/" + Repository.name
        )
        if (await session.execute(names.limit(1))).first() is None:
            raise not_found(f"The namespace {namespace}")
        readable = OutboxEvent.repository_key.in_(names)
    kind = kind if kind in KINDS else ""
    window = await namespace_activity(session, namespace, readable, kind, start)
    return render(
        page, "activity.html", view=None, ns=account, window=window, kind=kind, kinds=KINDS,
        base=f"/orgs/{namespace}/activity", scope=namespace,
    )  # fmt: skip
