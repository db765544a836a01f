"""A secret shown once after a redirect: post/redirect/get for forms whose answer is a secret
dockyard does not keep (a new access token: only its hash is stored).

The POST parks the secret in the server-side session's one-time notice (accounts.sessions), the
GET after the redirect takes it, and a reload finds nothing. The notice is encrypted (Fernet)
with a key derived from the session's own token, which only the browser's cookie carries (the
session row is keyed by its sha256): the database never holds a usable secret, not even for the
moment between the redirect and the GET.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts.models import UiSession
from dockyard.accounts.sessions import session_key, set_flash, take_flash

_CONTEXT = b"dockyard.ui.once"


def _fernet(session_token: str) -> Fernet:
    digest = hmac.new(session_token.encode(), _CONTEXT, hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


async def park(session: AsyncSession, session_token: str, kind: str, secret: str) -> None:
    """Keep `secret` for the next `take(kind)` of this web session (replacing any notice)."""
    sealed = _fernet(session_token).encrypt(secret.encode()).decode()
    await set_flash(session, session_token, f"{kind}:{sealed}")


async def take(session: AsyncSession, session_token: str, kind: str) -> str | None:
    """The parked secret of `kind`, once: a second call (a reload) answers None."""
    value = await session.scalar(
        select(UiSession.flash).where(UiSession.id == session_key(session_token))
    )
    if not value or not value.startswith(f"{kind}:"):
        return None
    # The conditional consume: of two concurrent reloads, one gets the secret.
    if not await take_flash(session, session_token, value):
        return None
    try:
        return _fernet(session_token).decrypt(value[len(kind) + 1 :].encode()).decode()
    except InvalidToken:
        return None
