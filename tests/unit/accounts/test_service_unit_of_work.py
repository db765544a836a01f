"""The accounts service never commits: the caller's unit of work does. A whole run of account,
organization, team and token changes, sign-in with a token (which moves its lastUsed) and the
first-admin bootstrap commits nothing, and a rollback leaves no trace of any of it."""

from __future__ import annotations

import asyncio

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from dockyard.accounts import service as accounts
from dockyard.accounts.models import Account, ApiToken
from dockyard.db.engine import create_engine, create_sessionmaker
from dockyard.db.migrate import upgrade


async def _scenario(url: str) -> int:
    engine = create_engine(url)
    maker = create_sessionmaker(engine)
    commits: list[Session] = []
    try:
        async with maker() as db:
            event.listen(db.sync_session, "after_commit", commits.append)
            assert await accounts.ensure_admin(db, None) is not None
            user = await accounts.create_user(db, "uow-user", "a-long-password")
            org = await accounts.create_org(db, "uow-org")
            await accounts.set_org_member(db, org, user, is_admin=True)
            team = await accounts.create_team(db, org, "uow-team")
            await accounts.set_team_member(db, org, team, user)
            await accounts.update_team(db, team, description="changed")
            token, plaintext = await accounts.create_token(db, user, label="ci")
            assert await accounts.authenticate(db, "uow-user", plaintext) is not None
            assert token.last_used is not None
            await accounts.update_token(db, token, is_active=False, label="off")
            await accounts.update_account(db, user, full_name="U", password="another-password")
            await accounts.remove_team_member(db, team, user)
            await accounts.remove_org_member(db, org, user)
            await accounts.delete_team(db, team)
            await accounts.delete_tokens(db, user)
            await accounts.delete_account(db, org)
            await db.rollback()
        async with maker() as db:
            left = await db.scalar(select(func.count()).select_from(Account))
            tokens = await db.scalar(select(func.count()).select_from(ApiToken))
            assert (left, tokens) == (0, 0)
    finally:
        await engine.dispose()
    return len(commits)


def test_the_accounts_service_never_commits(database_url: str) -> None:
    upgrade(database_url)
    assert asyncio.run(_scenario(database_url)) == 0
