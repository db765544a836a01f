"""Server-side UI sessions (accounts.sessions): sign-out ends one session, a password change ends
the others, expiry and deactivation count, and the one-time notice is taken exactly once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from dockyard.accounts import service as accounts
from dockyard.accounts import sessions
from dockyard.clock import utcnow
from dockyard.db.engine import create_engine, create_sessionmaker
from dockyard.db.migrate import upgrade


async def _scenario(url: str) -> None:
    engine = create_engine(url)
    maker = create_sessionmaker(engine)
    try:
        async with maker() as db:
            user = await accounts.create_user(db, "sam", "first-password")
            other = await accounts.create_user(db, "kim", "kims-password")
            laptop = await sessions.start_session(db, user.id)
            phone = await sessions.start_session(db, user.id)
            kims = await sessions.start_session(db, other.id)
            await db.commit()

            async def who(token: str) -> str | None:
                account = await sessions.session_account(db, token)
                return account.name if account else None

            assert await who(laptop) == await who(phone) == "sam"
            assert await who("never-issued") is None

            # Signing out ends that session only.
            await sessions.end_session(db, phone)
            assert await who(phone) is None
            assert await who(laptop) == "sam"

            # The user's own password change keeps the session it came from, ends the rest.
            tablet = await sessions.start_session(db, user.id)
            await accounts.change_password(
                db, user, "first-password", "second-password", keep_session=laptop
            )
            assert await who(laptop) == "sam"
            assert await who(tablet) is None
            # An administrator's reset ends every session of that user, nobody else's.
            await accounts.update_account(db, user, password="third-password")
            assert await who(laptop) is None
            assert await who(kims) == "kim"

            # A deactivated account's sessions resolve to nobody.
            await accounts.update_account(db, other, is_active=False)
            assert await who(kims) is None

            # Expired sessions resolve to nobody, and the next sign-in sweeps them.
            old = await sessions.start_session(db, user.id, now=utcnow() - timedelta(hours=13))
            assert await who(old) is None
            fresh = await sessions.start_session(db, user.id)
            # (the row is gone: even at a time it was valid it resolves to nobody)
            was_valid = utcnow() - timedelta(hours=12, minutes=30)
            assert await sessions.session_account(db, old, now=was_valid) is None
            assert await who(fresh) == "sam"

            # The one-time notice: taken once, and only with the value it holds.
            await sessions.set_flash(db, fresh, "webhook-1")
            assert not await sessions.take_flash(db, fresh, "webhook-2")
            assert await sessions.take_flash(db, fresh, "webhook-1")
            assert not await sessions.take_flash(db, fresh, "webhook-1")
            await db.commit()
    finally:
        await engine.dispose()


def test_sessions_end_when_they_should(database_url: str) -> None:
    upgrade(database_url)
    asyncio.run(_scenario(database_url))
