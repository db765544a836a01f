"""Repository pages: create, Info, Settings (the Tags tab and tag page: `tag_pages`; Activity:
`activity_pages`). Thin: services do the work.

Each page takes the request's unit of work (`session: UnitOfWork`): it commits when the page
returns (a redirect after a POST is sent after the commit) and the after-commit hook wakes the
event consumers. A page that shows a failed form again rolls its writes back first (`undo`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts import service as accounts
from dockyard.accounts.models import Account
from dockyard.api.uow import UnitOfWork
from dockyard.auth.access import repository_access
from dockyard.errors import DockyardError
from dockyard.repos import service as repos_service
from dockyard.repos.models import Repository
from dockyard.rules.permissions import AccessLevel
from dockyard.ui.deletion import deletion_summary
from dockyard.ui.queries import creatable_namespaces
from dockyard.ui.render import (
    FORBIDDEN,
    Page,
    form_value,
    not_found,
    page_context,
    redirect,
    render,
)
from dockyard.webhooks import service as webhooks

router = APIRouter()


@dataclass(frozen=True)
class RepoView:
    repo: Repository
    namespace: Account
    access: AccessLevel

    @property
    def tabs(self) -> list[tuple[str, str]]:
        base = f"/repositories/{self.repo.namespace}/{self.repo.name}"
        tabs = [("info", base), ("tags", f"{base}/tags"), ("activity", f"{base}/activity")]
        # Promotions, Mirrors, Webhooks and Settings need repository admin (the seed's
        # prerequisite): a reader never sees a tab that would only refuse them.
        if self.access >= AccessLevel.ADMIN:
            tabs += [
                ("promotions", f"{base}/promotions"),
                ("mirrors", f"{base}/mirrors"),
                ("webhooks", f"{base}/webhooks"),
                ("settings", f"{base}/settings"),
            ]
        return tabs

    @property
    def can_write(self) -> bool:
        return self.access >= AccessLevel.READ_WRITE

    @property
    def is_admin(self) -> bool:
        return self.access >= AccessLevel.ADMIN


async def load_repo(page: Page, session: AsyncSession, namespace: str, name: str) -> RepoView:
    principal = page.user
    repo = await repos_service.get_repository(session, namespace, name)
    if repo is None:
        raise not_found(f"The repository {namespace}/{name}")
    level = await repository_access(session, principal, repo)
    if level < AccessLevel.READ_ONLY:
        raise not_found(f"The repository {namespace}/{name}")
    account = await session.get(Account, repo.namespace_id)
    assert account is not None
    return RepoView(repo, account, level)


async def undo(session: AsyncSession, view: RepoView | None = None) -> None:
    """Roll back a failed form's writes before its page is shown again. A rollback expires
    every object the session read, so the repository the page shows is read again."""
    await session.rollback()
    if view is not None:
        await session.refresh(view.repo)
        await session.refresh(view.namespace)


def _pull_host(page: Page) -> str:
    return page.services.registry_host


@router.get("/repositories/new")
async def new_repository_form(
    session: UnitOfWork, namespace: str = "", page: Page = Depends(page_context)
) -> Response:
    namespaces = await creatable_namespaces(session, page.user)
    if not namespaces:
        raise FORBIDDEN
    return render(
        page,
        "repository_new.html",
        namespaces=namespaces,
        values={"namespace": namespace, "visibility": "private"},
        error=None,
    )


@router.post("/repositories/new")
async def create_repository(session: UnitOfWork, page: Page = Depends(page_context)) -> Response:
    form = await page.check_csrf()
    principal = page.user
    values = {k: form_value(form, k) for k in ("namespace", "name", "visibility", "short")}
    namespaces = await creatable_namespaces(session, principal)
    target = next((ns for ns in namespaces if ns.name == values["namespace"]), None)
    error = None
    if target is None:
        error = "Choose a namespace where you may create repositories."
    else:
        try:
            await repos_service.create_repository(
                session,
                target,
                values["name"],
                principal.name,
                visibility=values["visibility"] or "private",
                short_description=values["short"][:140],
            )
        except DockyardError as exc:
            await undo(session)
            namespaces = await creatable_namespaces(session, principal)
            error = exc.message
    if error is not None:
        return render(
            page,
            "repository_new.html",
            status=400,
            namespaces=namespaces,
            values=values,
            error=error,
        )
    return redirect(page, f"/repositories/{values['namespace']}/{values['name']}")


@router.get("/repositories/{namespace}/{name}")
async def repository_info(
    namespace: str, name: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    view = await load_repo(page, session, namespace, name)
    return render(page, "repository_info.html", view=view, tab="info", host=_pull_host(page))


@router.get("/repositories/{namespace}/{name}/settings")
async def settings_page(
    namespace: str, name: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    view = await load_repo(page, session, namespace, name)
    if not view.is_admin:
        raise FORBIDDEN
    return await _settings(page, session, view, None)


async def _settings(
    page: Page, session: AsyncSession, view: RepoView, error: str | None, status: int = 200
) -> Response:
    grants: list[Any] = []
    teams: list[Any] = []
    if view.namespace.is_org:
        grants = await repos_service.list_repository_team_access(session, view.repo)
        teams = await accounts.list_teams(session, view.namespace)
    return render(
        page,
        "repository_settings.html",
        status=status,
        view=view,
        tab="settings",
        error=error,
        grants=grants,
        teams=teams,
        removes=await deletion_summary(session, view.repo),
    )


@router.post("/repositories/{namespace}/{name}/teams")
async def team_access(
    namespace: str, name: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    form = await page.check_csrf()
    view = await load_repo(page, session, namespace, name)
    if not view.is_admin or not view.namespace.is_org:
        raise FORBIDDEN
    team_name = form_value(form, "team")
    level = form_value(form, "level")
    try:
        team = await accounts.require_team(session, view.namespace, team_name)
        if level == "none":
            await repos_service.delete_repository_team_access(session, view.repo, team)
        else:
            await repos_service.set_repository_team_access(session, view.repo, team, level)
    except DockyardError as exc:
        await undo(session, view)
        return await _settings(page, session, view, exc.message, 400)
    return redirect(page, f"/repositories/{namespace}/{name}/settings?msg=team-saved")


def _settings_changes(form: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The Settings form as repos.service's changes, or why it cannot be saved."""
    error = None
    try:
        tag_limit = int(form_value(form, "tag_limit") or "0")
        if tag_limit < 0:
            raise ValueError
    except ValueError:
        error = "The tag limit is a whole number: 0 means no limit."
        tag_limit = 0
    changes = {
        "shortDescription": form_value(form, "short")[:140],
        "longDescription": str(form.get("long", "")),
        "visibility": form_value(form, "visibility"),
        "scanOnPush": form.get("scan_on_push") == "on",
        "immutableTags": form.get("immutable_tags") == "on",
        "tagLimit": tag_limit,
    }
    return changes, error


@router.post("/repositories/{namespace}/{name}/settings")
async def save_settings(
    namespace: str, name: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    form = await page.check_csrf()
    view = await load_repo(page, session, namespace, name)
    if not view.is_admin:
        raise FORBIDDEN
    changes, error = _settings_changes(form)
    if error is None:
        try:
            await repos_service.update_repository(
                session, view.repo, view.namespace.is_org, page.user.name, changes
            )
        except DockyardError as exc:
            await undo(session, view)
            error = exc.message
    if error is not None:
        return await _settings(page, session, view, error, 400)
    return redirect(page, f"/repositories/{namespace}/{name}/settings?msg=saved")


@router.post("/repositories/{namespace}/{name}/delete")
async def delete_repository(
    namespace: str, name: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    form = await page.check_csrf()
    view = await load_repo(page, session, namespace, name)
    if not view.is_admin:
        raise FORBIDDEN
    if form_value(form, "confirm_name") != view.repo.full_name:
        message = f"To delete, type the full name {view.repo.full_name} exactly."
        return await _settings(page, session, view, message, 400)
    repo = view.repo
    await repos_service.delete_repository(session, repo, page.user.name)
    # Its webhooks go with it (the confirmation says so), in the same unit of work.
    await webhooks.delete_for_repository(session, repo.namespace, repo.name)
    return redirect(page, "/repositories")
