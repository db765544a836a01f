"""Server-side web UI sessions: start, resolve, end, and the one-time notice a session carries.

The browser's cookie holds a random token; a row keyed by the token's sha256 makes it valid.
Signing out deletes the row, a password change deletes the account's other rows, and deleting
an account cascades, so a stolen or forgotten cookie stops working at once instead of living
out its 12 hours. No HTTP here (the cookie itself is ui.session's business).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts.models import Account, UiSession
from dockyard.clock import utcnow

SESSION_LIFETIME = timedelta(hours=12)


def session_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def start_session(session: AsyncSession, account_id: str, now: datetime | None = None) -> str:
    """A new session for the account; returns the token the cookie carries."""
    now = now or utcnow()
    # Expired rows are swept here: sign-ins are rare enough, and the index makes it cheap.
    await session.execute(delete(UiSession).where(UiSession.expires_at <= now))
    token = secrets.token_urlsafe(32)
    session.add(
        UiSession(
            id=session_key(token),
            account_id=account_id,
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    await session.flush()
    return token


async def session_account(
    session: AsyncSession, token: str, now: datetime | None = None
) -> Account | None:
    """The active user a live session belongs to, or None (ended, expired, deactivated)."""
    row = (
        await session.execute(
            select(Account)
            .join(UiSession, UiSession.account_id == Account.id)
            .where(UiSession.id == session_key(token), UiSession.expires_at > (now or utcnow()))
        )
    ).scalar_one_or_none()
    if row is None or row.is_org or not row.is_active:
        return None
    return row


async def end_session(session: AsyncSession, token: str) -> None:
    await session.execute(delete(UiSession).where(UiSession.id == session_key(token)))


async def end_sessions(session: AsyncSession, account_id: str, keep: str | None = None) -> None:
    """End every session of the account, except the one whose token is `keep` (if any)."""
    stmt = delete(UiSession).where(UiSession.account_id == account_id)
    if keep:
        stmt = stmt.where(UiSession.id != session_key(keep))
    await session.execute(stmt)


async def set_flash(session: AsyncSession, token: str, value: str) -> None:
    await session.execute(
        update(UiSession).where(UiSession.id == session_key(token)).values(flash=value)
    )


async def take_flash(session: AsyncSession, token: str, value: str) -> bool:
    """Consume the session's notice if it is `value`: True exactly once (a reload gets False).

    One conditional UPDATE, so two concurrent reloads cannot both see it."""
    result = await session.execute(
        update(UiSession)
        .where(UiSession.id == session_key(token), UiSession.flash == value)
        .values(flash=None)
    )
    assert isinstance(result, CursorResult)
    return bool(result.rowcount == 1)
