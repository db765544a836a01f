"""ui.once: a secret parked in the web session is taken once, by its kind, from that session only,
and the database row holds nothing that reveals it."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from dockyard.accounts import service as accounts
from dockyard.accounts import sessions
from dockyard.accounts.models import UiSession
from dockyard.db.engine import create_engine, create_sessionmaker
from dockyard.db.migrate import upgrade
from dockyard.ui import once

SECRET = "a-new-api-token-value-0123456789"


async def _scenario(url: str) -> None:
    engine = create_engine(url)
    maker = create_sessionmaker(engine)
    try:
        async with maker() as db:
            user = await accounts.create_user(db, "ana", "anas-password")
            mine = await sessions.start_session(db, user.id)
            theirs = await sessions.start_session(db, user.id)
            await once.park(db, mine, "api-token", SECRET)
            await db.commit()

            stored = list(await db.scalars(select(UiSession.flash)))
            assert any(stored) and not any(SECRET in (value or "") for value in stored)

            # Another kind, or another session, takes nothing and leaves it in place.
            assert await once.take(db, mine, "webhook") is None
            assert await once.take(db, theirs, "api-token") is None
            assert await once.take(db, mine, "api-token") == SECRET
            assert await once.take(db, mine, "api-token") is None

            # A notice sealed for one session cannot be opened with another's key: copied
            # into another session's row, it reads as nothing.
            await once.park(db, mine, "api-token", SECRET)
            sealed = await db.scalar(
                select(UiSession.flash).where(UiSession.id == sessions.session_key(mine))
            )
            assert sealed is not None
            await sessions.set_flash(db, theirs, sealed)
            assert await once.take(db, theirs, "api-token") is None
            await db.commit()
    finally:
        await engine.dispose()


def test_a_parked_secret_is_taken_once(database_url: str) -> None:
    upgrade(database_url)
    asyncio.run(_scenario(database_url))
