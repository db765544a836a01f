"""A deactivated account has no access: neither its password nor its API tokens sign it in.

The permission rules hold no "is the account active" fact: an inactive account is refused
where credentials become a principal (here, and `accounts.sessions` for the web UI), so no
principal of an inactive account reaches an access check."""

from __future__ import annotations

import asyncio

from dockyard.accounts import service as accounts
from dockyard.db.engine import create_engine, create_sessionmaker
from dockyard.db.migrate import upgrade


async def _scenario(url: str) -> None:
    engine = create_engine(url)
    maker = create_sessionmaker(engine)
    try:
        async with maker() as db:
            user = await accounts.create_user(db, "dee", "dees-password", is_admin=True)
            _row, token = await accounts.create_token(db, user)
            await db.commit()
            assert await accounts.authenticate(db, "dee", "dees-password") is not None
            assert await accounts.authenticate(db, "dee", token) is not None

            await accounts.update_account(db, user, is_active=False)
            await db.commit()
            assert await accounts.authenticate(db, "dee", "dees-password") is None
            assert await accounts.authenticate(db, "dee", token) is None

            await accounts.update_account(db, user, is_active=True)
            await db.commit()
            assert await accounts.authenticate(db, "dee", "dees-password") is not None
    finally:
        await engine.dispose()


def test_a_deactivated_account_cannot_sign_in(database_url: str) -> None:
    upgrade(database_url)
    asyncio.run(_scenario(database_url))
