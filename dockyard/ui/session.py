"""The web UI's session cookie: signing key, contents, CSRF token, and the principal resolver.

The cookie is signed and time-limited (itsdangerous) and carries a random CSRF token and, once
signed in, the token of a server-side session (accounts.sessions): the session row is what makes
it valid, so signing out and password changes end sessions at once. Every request re-reads the
row and the account, so a deactivated user or a revoked admin flag takes effect at once too.
Anonymous visitors get a cookie with only a CSRF token, so the login form is protected too.
No page rendering here.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from dockyard.accounts.principal import Principal
from dockyard.accounts.sessions import session_account
from dockyard.config import Settings
from dockyard.kit.secretfile import read_or_create
from dockyard.services import Services

COOKIE_NAME = "dockyard_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SESSION_MAX_AGE = 12 * 3600
_SALT = "dockyard.ui.session"


@dataclass(frozen=True)
class SessionData:
    csrf: str
    # The server-side session's token (accounts.sessions); None for an anonymous visitor.
    token: str | None = None


def load_secret_key(settings: Settings) -> str:
    """settings.secret_key, or a key generated once into the data folder (mode 0600)."""
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.data_dir) / "secret_key"
    key = read_or_create(path, lambda: secrets.token_urlsafe(48).encode()).decode().strip()
    if not key:
        raise RuntimeError(f"{path} is empty; delete it to generate a new key")
    return key


def _serializer(request: Request) -> URLSafeTimedSerializer:
    state = request.app.state
    ser: URLSafeTimedSerializer | None = getattr(state, "ui_serializer", None)
    if ser is None:
        ser = URLSafeTimedSerializer(load_secret_key(state.settings), salt=_SALT)
        state.ui_serializer = ser
    return ser


def read_session(request: Request) -> SessionData | None:
    raw = request.cookies.get(COOKIE_NAME)
    if not raw:
        return None
    try:
        data = _serializer(request).loads(raw, max_age=SESSION_MAX_AGE)
    except BadSignature:  # also covers SignatureExpired
        return None
    if not isinstance(data, dict) or not isinstance(data.get("c"), str):
        return None
    # Cookies from before server-side sessions carry "u" (an account id) and no "s": they are
    # read as signed out, since nothing could end them.
    token = data.get("s")
    return SessionData(csrf=data["c"], token=token if isinstance(token, str) else None)


def new_session(token: str | None = None) -> SessionData:
    return SessionData(csrf=secrets.token_urlsafe(32), token=token)


def write_session(request: Request, response: Response, data: SessionData) -> None:
    settings: Settings = request.app.state.settings
    payload: dict[str, str] = {"c": data.csrf}
    if data.token:
        payload["s"] = data.token
    response.set_cookie(
        COOKIE_NAME,
        _serializer(request).dumps(payload),
        max_age=SESSION_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=settings.session_cookie_secure,
        path="/",
    )


def clear_session(request: Request, response: Response) -> None:
    settings: Settings = request.app.state.settings
    response.delete_cookie(
        COOKIE_NAME,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.session_cookie_secure,
    )


def csrf_matches(data: SessionData | None, supplied: str | None) -> bool:
    if data is None or not supplied:
        return False
    return hmac.compare_digest(data.csrf.encode(), supplied.encode())


async def principal_for(services: Services, data: SessionData | None) -> Principal | None:
    """The signed-in account, re-read so sign-out, deactivation and admin changes apply at once."""
    if data is None or data.token is None:
        return None
    async with services.session() as session:
        account = await session_account(session, data.token)
        if account is None:
            return None
        return Principal(account.id, account.name, account.is_admin)


async def session_resolver(request: Request, services: Services) -> Principal | None:
    """API requests made by the browser (Swagger UI, the Test button) with the session cookie.

    The cookie alone is not enough: a cross-site form could make the browser send it. The
    request must also carry the session's CSRF token in X-CSRF-Token, which only our own
    pages' scripts can read (from a <meta> tag) and a foreign site cannot set without CORS.
    """
    path = request.url.path
    if not (path.startswith("/api/") or path.startswith("/enzi/")):
        return None
    data = read_session(request)
    if data is None or data.token is None:
        return None
    if not csrf_matches(data, request.headers.get(CSRF_HEADER)):
        return None
    principal = await principal_for(services, data)
    if principal is not None:
        # A password change made from this session keeps it (and ends the others).
        request.state.ui_session_token = data.token
    return principal
