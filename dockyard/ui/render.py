"""Page plumbing for the web UI: who is looking, the CSRF token, templates and page errors.

Routes get a `Page` from `page_context`, call services, and answer `render(...)`. Errors meant
for a person are `UiError`s, rendered as an HTML page by the handler `install_ui_errors` adds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup, escape

from dockyard import __version__
from dockyard.accounts.principal import Principal
from dockyard.services import Services
from dockyard.ui.session import (
    CSRF_FIELD,
    SessionData,
    csrf_matches,
    new_session,
    principal_for,
    read_session,
    write_session,
)

if TYPE_CHECKING:
    from jinja2 import Environment

TEMPLATES = Path(__file__).parent / "templates"


def _when(value: datetime | None) -> str:
    if value is None:
        return "never"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _size(value: int | None) -> str:
    if not value:
        return "0 B"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def _short_digest(value: str | None) -> str:
    if not value:
        return ""
    algo, _, hexpart = value.partition(":")
    return f"{algo}:{hexpart[:12]}" if hexpart else value[:19]


def _breakable(value: str | None) -> Markup:
    """Text with a <wbr> break point after each URL separator: a long URL wraps at its
    slashes and dots rather than mid-word (the text itself is escaped)."""
    text = str(escape(value or ""))
    for sep in ("/", ".", "?", "&amp;", "=", "-", "_", ":"):
        text = text.replace(sep, sep + "<wbr>")
    return Markup(text)


def _clip(value: str | None, length: int = 160) -> str:
    """At most about `length` characters of a text, cut between words (never inside one):
    the last whole word that fits, or the first word when even that is longer."""
    text = value or ""
    if len(text) <= length:
        return text
    head = text[:length]
    cut = head.rstrip()
    if not text[length].isspace():
        space = max(head.rfind(" "), head.rfind("\n"))
        cut = head[:space].rstrip() if space > 0 else text.split(None, 1)[0]
    return cut + "…"


@cache
def environment() -> Environment:
    """The templates' environment, made (and Jinja and the Markdown renderer imported) on the
    first page rendered: an HTTP worker that serves only the registry never pays for them."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    from dockyard.ui.markdown import render_markdown

    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["size"] = _size
    env.filters["short_digest"] = _short_digest
    env.filters["markdown"] = render_markdown
    env.filters["breakable"] = _breakable
    env.filters["clip"] = _clip
    env.globals["version"] = __version__
    return env


def __getattr__(name: str) -> Any:
    if name == "env":  # `render.env`, as it was a module attribute
        return environment()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class UiError(Exception):
    """A failure shown to a person as a page: what happened and what to do."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.message = message


class LoginRequired(Exception):
    """The page needs a signed-in user: redirect to the login form and come back."""


def not_found(what: str) -> UiError:
    return UiError(
        404,
        f"{what} not found",
        f"{what} does not exist, or you do not have access to it. "
        "Check the name, or ask an administrator for access.",
    )


FORBIDDEN = UiError(
    403,
    "Not allowed",
    "Your account does not have the access this needs. Ask an administrator or the "
    "namespace owner to grant it.",
)


@dataclass
class Page:
    request: Request
    services: Services
    session: SessionData
    principal: Principal | None
    fresh_session: bool

    @property
    def user(self) -> Principal:
        if self.principal is None:
            raise LoginRequired
        return self.principal

    async def check_csrf(self) -> dict[str, Any]:
        """The form's fields, after checking its CSRF token (403 page when wrong)."""
        form = await self.request.form()
        supplied = form.get(CSRF_FIELD)
        if not csrf_matches(
            None if self.fresh_session else self.session,
            supplied if isinstance(supplied, str) else None,
        ):
            raise UiError(
                403,
                "This form has expired",
                "The form's security token is missing or does not match your session "
                "(perhaps it was open in another tab before you signed in or out). "
                "Go back, reload the page and submit it again.",
            )
        return {key: value for key, value in form.multi_items()}


def form_value(form: dict[str, Any], name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


async def page_context(request: Request) -> Page:
    services: Services = request.app.state.services
    data = read_session(request)
    fresh = data is None
    if data is None:
        data = new_session()
    principal = await principal_for(services, data)
    return Page(request, services, data, principal, fresh)


def render(page: Page, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    compiled = environment().get_template(template)
    body = compiled.render(
        request=page.request,
        user=page.principal,
        csrf_token=page.session.csrf,
        csrf_field=CSRF_FIELD,
        path=page.request.url.path,
        **context,
    )
    response = HTMLResponse(body, status_code=status)
    response.headers["cache-control"] = "no-store"
    if page.fresh_session:
        write_session(page.request, response, page.session)
    return response


def redirect(page: Page, url: str) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    if page.fresh_session:
        write_session(page.request, response, page.session)
    return response


def install_ui_errors(app: FastAPI) -> None:
    async def _ui_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, UiError)
        page = await page_context(request)
        return render(page, "error.html", status=exc.status, title=exc.title, message=exc.message)

    async def _login(request: Request, exc: Exception) -> Response:
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    app.add_exception_handler(UiError, _ui_error)
    app.add_exception_handler(LoginRequired, _login)
