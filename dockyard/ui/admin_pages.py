"""Organization/namespace pages and the registry admin's user pages. Thin: accounts.service
does the work; `auth.access` says who may see what. Each page's database work is the request's
unit of work (committed when the page returns, before its redirect is sent)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from dockyard.accounts import service as accounts
from dockyard.api.uow import UnitOfWork
from dockyard.auth.access import namespace_access
from dockyard.errors import DockyardError
from dockyard.rules.permissions import AccessLevel
from dockyard.ui.queries import visible_namespaces, visible_repositories
from dockyard.ui.render import (
    FORBIDDEN,
    Page,
    form_value,
    not_found,
    page_context,
    redirect,
    render,
)

router = APIRouter()

_MESSAGES = {
    "org-created": "The organization was created.",
    "user-created": "The user was created. Give them their password through a safe channel.",
    "user-updated": "The user was updated.",
}


@router.get("/orgs")
async def organizations(session: UnitOfWork, page: Page = Depends(page_context)) -> Response:
    orgs = await visible_namespaces(session, page.user)
    return render(
        page,
        "orgs.html",
        orgs=orgs,
        error=None,
        msg=_MESSAGES.get(page.request.query_params.get("msg", "")),
    )


@router.post("/orgs")
async def create_org(session: UnitOfWork, page: Page = Depends(page_context)) -> Response:
    form = await page.check_csrf()
    if not page.user.is_admin:
        raise FORBIDDEN
    name = form_value(form, "name")
    try:
        await accounts.create_org(session, name)
    except DockyardError as exc:
        await session.rollback()
        orgs = await visible_namespaces(session, page.user)
        return render(page, "orgs.html", status=400, orgs=orgs, error=exc.message, msg=None)
    return redirect(page, f"/orgs/{name}")


@router.get("/orgs/{namespace}")
async def namespace_page(
    namespace: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    principal = page.user
    account = await accounts.get_account(session, namespace)
    if account is None or account.name != namespace:
        raise not_found(f"The namespace {namespace}")
    level = await namespace_access(session, principal, account)
    member = (
        account.is_org
        and await accounts.get_org_member(
            session, account, await accounts.require_user(session, principal.account_id)
        )
        is not None
    )
    repos, total = await visible_repositories(session, principal, "", 0, 200, namespace=namespace)
    if level < AccessLevel.READ_ONLY and not member and not repos:
        raise not_found(f"The namespace {namespace}")
    is_owner = level >= AccessLevel.ADMIN
    members = await accounts.list_org_members(session, account) if account.is_org else []
    teams = await accounts.list_teams(session, account) if account.is_org else []
    return render(
        page,
        "namespace.html",
        ns=account,
        repos=repos,
        total=total,
        is_owner=is_owner,
        members=members if (is_owner or member) else [],
        teams=teams if is_owner else [],
    )


@router.get("/admin/users")
async def users(session: UnitOfWork, page: Page = Depends(page_context)) -> Response:
    if not page.user.is_admin:
        raise FORBIDDEN
    rows = await accounts.list_accounts(session, "users")
    return render(
        page,
        "users.html",
        users=rows,
        error=None,
        values={},
        msg=_MESSAGES.get(page.request.query_params.get("msg", "")),
    )


@router.post("/admin/users")
async def create_user(session: UnitOfWork, page: Page = Depends(page_context)) -> Response:
    form = await page.check_csrf()
    if not page.user.is_admin:
        raise FORBIDDEN
    values = {k: form_value(form, k) for k in ("name", "full_name")}
    password = str(form.get("password", ""))
    try:
        accounts.validate_password(password)
        await accounts.create_user(
            session,
            values["name"],
            password,
            is_admin=form.get("is_admin") == "on",
            full_name=values["full_name"],
        )
    except DockyardError as exc:
        await session.rollback()
        rows = await accounts.list_accounts(session, "users")
        return render(page, "users.html", status=400, users=rows, error=exc.message, values=values)
    return redirect(page, "/admin/users?msg=user-created")


@router.post("/admin/users/{name}")
async def update_user(
    name: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    form = await page.check_csrf()
    principal = page.user
    if not principal.is_admin:
        raise FORBIDDEN
    action = form_value(form, "action")
    changes: dict[str, bool] = {
        "make-admin": {"is_admin": True},
        "remove-admin": {"is_admin": False},
        "deactivate": {"is_active": False},
        "activate": {"is_active": True},
    }.get(action, {})
    if not changes:
        raise not_found("That action")
    try:
        user = await accounts.require_user(session, name)
    except DockyardError:
        raise not_found(f"The user {name}") from None
    if user.id == principal.account_id and action in ("remove-admin", "deactivate"):
        rows = await accounts.list_accounts(session, "users")
        return render(
            page,
            "users.html",
            status=400,
            users=rows,
            values={},
            error="You cannot remove your own admin rights or deactivate yourself; "
            "ask another administrator.",
        )
    await accounts.update_account(
        session, user, is_admin=changes.get("is_admin"), is_active=changes.get("is_active")
    )
    return redirect(page, "/admin/users?msg=user-updated")
