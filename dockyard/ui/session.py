"""The web UI's session cookie: signing key, contents, CSRF token, and the principal resolver.

The cookie is stateless (signed and time-limited with itsdangerous) and carries the account id and
a random CSRF token. Every request re-reads the account, so a deactivated user or a revoked admin
flag takes effect at once. Anonymous visitors get a cookie with only a CSRF token, so the login
form is protected too. No page rendering here.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from dockyard.accounts.models import Account
from dockyard.accounts.principal import Principal
from dockyard.config import Settings
from dockyard.services import Services

COOKIE_NAME = "dockyard_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SESSION_MAX_AGE = 12 * 3600
_SALT = "dockyard.ui.session"


@dataclass(frozen=True)
class SessionData:
    csrf: str
    account_id: str | None = None


def load_secret_key(settings: Settings) -> str:
    """settings.secret_key, or a key generated once into the data folder (mode 0600)."""
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.data_dir) / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: several worker processes may start at once; exactly one writes the key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):
            key = path.read_text().strip()
            if key:
                return key
            import time

            time.sleep(0.02)  # the writer has created the file but not yet written it
        raise RuntimeError(f"{path} is empty; delete it to generate a new key") from None
    key = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
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
    account = data.get("u")
    return SessionData(csrf=data["c"], account_id=account if isinstance(account, str) else None)


def new_session(account_id: str | None = None) -> SessionData:
    return SessionData(csrf=secrets.token_urlsafe(32), account_id=account_id)


def write_session(request: Request, response: Response, data: SessionData) -> None:
    settings: Settings = request.app.state.settings
    payload: dict[str, str] = {"c": data.csrf}
    if data.account_id:
        payload["u"] = data.account_id
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
    """The signed-in account, re-read so deactivation and admin changes apply at once."""
    if data is None or data.account_id is None:
        return None
    async with services.session() as session:
        account = await session.get(Account, data.account_id)
        if account is None or account.is_org or not account.is_active:
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
    if data is None or data.account_id is None:
        return None
    if not csrf_matches(data, request.headers.get(CSRF_HEADER)):
        return None
    return await principal_for(services, data)
