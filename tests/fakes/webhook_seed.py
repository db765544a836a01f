"""Seed a test server's database directly (users, orgs, teams, repositories, outbox events),
so webhook tests do not depend on the accounts/repositories HTTP API."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from dockyard.accounts import service as accounts
from dockyard.accounts.models import Account
from dockyard.clock import utcnow
from dockyard.config import Settings
from dockyard.events import bus
from dockyard.events.types import EventType, ImageRef, tag_event
from dockyard.repos.models import RepositoryTeamAccess
from dockyard.repos.service import create_repository
from dockyard.services import build_services
from dockyard.webhooks import wake
from tests.fakes.server import RunningServer

T = TypeVar("T")


def _run(srv: RunningServer, fn: Callable[[Any], Awaitable[T]]) -> T:
    async def go() -> T:
        services = build_services(Settings(database_url=srv.database_url, data_dir=srv.data_dir))
        try:
            async with services.session() as session:
                result = await fn(session)
                await session.commit()
            # The server's HTTP processes announce their commits to the delivery engine; this
            # process writes behind their back, so it announces its own (events seeded here
            # would otherwise wait for the engine's slow fallback poll).
            wake.announce(srv.data_dir)
            return result
        finally:
            await services.close()

    return asyncio.run(go())


async def _account(session: Any, name: str) -> Account:
    account = await accounts.get_account(session, name)
    assert account is not None, name
    return account


def user(
    srv: RunningServer, name: str, password: str = "password-123", admin: bool = False
) -> tuple[str, str]:
    async def fn(session: Any) -> None:
        await accounts.create_user(session, name, password, is_admin=admin)

    _run(srv, fn)
    return (name, password)


def org(srv: RunningServer, name: str, owners: list[str] = (), members: list[str] = ()) -> None:  # type: ignore[assignment]
    async def fn(session: Any) -> None:
        o = await accounts.create_org(session, name)
        for owner in owners:
            await accounts.set_org_member(session, o, await _account(session, owner), is_admin=True)
        for member in members:
            await accounts.set_org_member(
                session, o, await _account(session, member), is_admin=False
            )

    _run(srv, fn)


def team_repo_access(
    srv: RunningServer, org_name: str, team: str, repo: str, level: str, members: list[str]
) -> None:
    async def fn(session: Any) -> None:
        from dockyard.repos.service import get_repository

        o = await _account(session, org_name)
        t = await accounts.create_team(session, o, team)
        for m in members:
            await accounts.set_team_member(session, o, t, await _account(session, m))
        r = await get_repository(session, org_name, repo)
        assert r is not None
        session.add(RepositoryTeamAccess(repository_id=r.id, team_id=t.id, access_level=level))

    _run(srv, fn)


def repo(srv: RunningServer, namespace: str, name: str, author: str = "admin") -> None:
    async def fn(session: Any) -> None:
        await create_repository(session, await _account(session, namespace), name, author)

    _run(srv, fn)


def tag_push_events(srv: RunningServer, namespace: str, name: str, count: int) -> None:
    """Record `count` TAG_PUSH events straight into the outbox (as the registry would)."""

    async def fn(session: Any) -> None:
        for i in range(count):
            image = ImageRef(namespace, name, f"sha256:{i:064x}", "linux", "amd64", f"t{i}")
            bus.record(session, tag_event(EventType.TAG_PUSH, srv.host, image, "admin", utcnow()))

    _run(srv, fn)


def wait_dispatched(srv: RunningServer, timeout: float = 60.0) -> None:
    """Until the delivery engine has dispatched every event recorded so far (a test that
    subscribes next must not receive the events seeded before it)."""
    import time

    from sqlalchemy import func, select

    from dockyard.events.models import OutboxEvent

    async def undispatched(session: Any) -> int:
        query = select(func.count()).where(OutboxEvent.dispatched_at.is_(None))
        return int(await session.scalar(query) or 0)

    deadline = time.monotonic() + timeout
    while _run(srv, undispatched):
        assert time.monotonic() < deadline, "the engine did not dispatch the seeded events"
        time.sleep(0.05)
