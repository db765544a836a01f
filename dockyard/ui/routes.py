"""The web UI's router: sign-in, the repository list, the API explorer, and assembly.

Pages are thin: they read who is looking, call the services of repos/accounts/webhooks, and
render a template. No business rules here. A page's database work is the request's unit of work
(`session: UnitOfWork`, committed when the page returns, before a redirect is sent); no page
commits or wakes the event consumers by hand. Other pages live in the sibling `*_pages.py` files.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from dockyard.accounts.sessions import end_session, start_session
from dockyard.api.uow import UnitOfWork
from dockyard.auth.deps import LoginBlocked, verify_login
from dockyard.ui.queries import creatable_namespaces, visible_repositories
from dockyard.ui.render import Page, install_ui_errors, page_context, redirect, render
from dockyard.ui.security import SecurityHeadersMiddleware
from dockyard.ui.session import clear_session, new_session, write_session

# This module's pages; `pages_router` puts the sibling modules' before them.
router = APIRouter(include_in_schema=False)

PAGE_SIZE = 20
STATIC = Path(__file__).parent / "static"


def _safe_next(target: str | None) -> str:
    # Only local paths: an open redirect after sign-in is a phishing aid.
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/repositories"
    return target


@router.get("/")
async def home(page: Page = Depends(page_context)) -> Response:
    return redirect(page, "/repositories" if page.principal else "/login")


@router.get("/login")
async def login_form(next: str | None = None, page: Page = Depends(page_context)) -> Response:
    if page.principal is not None:
        return redirect(page, _safe_next(next))
    return render(page, "login.html", next=_safe_next(next), error=None, username="")


@router.post("/login")
async def login(session: UnitOfWork, page: Page = Depends(page_context)) -> Response:
    form = await page.check_csrf()
    username = str(form.get("username", "")).strip()
    secret = str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "")))
    principal = None
    if username and secret:
        try:
            # The same limiter as HTTP Basic on the APIs: guesses here count there, and back.
            principal = await verify_login(page.request, page.services, username, secret)
        except LoginBlocked as blocked:
            minutes = (blocked.seconds + 59) // 60
            refused = render(
                page,
                "login.html",
                status=429,
                next=target,
                username=username,
                error=f"Too many failed sign-ins for this account from your address. "
                f"Wait {minutes} minute{'s' if minutes != 1 else ''} and try again.",
            )
            refused.headers["retry-after"] = str(blocked.seconds)
            return refused
    if principal is None:
        return render(
            page,
            "login.html",
            status=401,
            next=target,
            username=username,
            error="That username and password (or access token) did not match an active "
            "account. Check them and try again.",
        )
    if page.session.token:
        await end_session(session, page.session.token)  # signing in again replaces it
    token = await start_session(session, principal.account_id)
    response = redirect(page, target)
    # A new CSRF token at sign-in: a token planted before login is worthless afterwards.
    write_session(page.request, response, new_session(token))
    return response


@router.post("/logout")
async def logout(session: UnitOfWork, page: Page = Depends(page_context)) -> Response:
    await page.check_csrf()
    if page.session.token:
        # The server forgets the session: a copy of the cookie is worthless from now on.
        await end_session(session, page.session.token)
    response = redirect(page, "/login")
    clear_session(page.request, response)
    return response


@router.get("/repositories")
async def repositories(
    session: UnitOfWork, q: str = "", page_no: int = 1, page: Page = Depends(page_context)
) -> Response:
    principal = page.user
    page_no = max(page_no, 1)
    rows, total = await visible_repositories(
        session, principal, q.strip(), (page_no - 1) * PAGE_SIZE, PAGE_SIZE
    )
    can_create = bool(await creatable_namespaces(session, principal))
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    return render(
        page,
        "repositories.html",
        rows=rows,
        q=q,
        page_no=page_no,
        pages=pages,
        total=total,
        can_create=can_create,
        qs=quote(q),
    )


@router.get("/api")
async def api_explorer(page: Page = Depends(page_context)) -> Response:
    page.user  # noqa: B018  (signing in first makes Execute work with the session)
    return render(page, "api.html")


def _swagger_dir() -> Path:
    return Path(str(files("fastapi_offline") / "static"))


def pages_router() -> APIRouter:
    """Every page: the sibling `*_pages.py` modules' routes, then this module's. The modules
    are imported here, when the application includes the pages (an HTTP worker of `dockyard
    serve` does it on the first request for one: api/lazy_routes.py's `LazyRoutes`)."""
    from dockyard.ui import (
        account_pages,
        activity_pages,
        admin_pages,
        org_pages,
        policy_pages,
        repo_pages,
        scan_pages,
        subscription_pages,
        tag_pages,
        team_pages,
        user_admin_pages,
        webhook_pages,
    )

    pages = APIRouter(include_in_schema=False)
    for module in (
        repo_pages,
        tag_pages,
        activity_pages,
        webhook_pages,
        subscription_pages,
        admin_pages,
        scan_pages,
        policy_pages,
        account_pages,
        org_pages,
        team_pages,
        user_admin_pages,
    ):
        pages.include_router(module.router)
    pages.include_router(router)
    return pages


def install_ui(app: FastAPI) -> None:
    """Static assets (ours and Swagger UI's), page error handling and security headers."""
    app.mount("/static/swagger", StaticFiles(directory=_swagger_dir()), name="ui-swagger")
    app.mount("/static", StaticFiles(directory=STATIC), name="ui-static")
    install_ui_errors(app)
    app.add_middleware(SecurityHeadersMiddleware)
