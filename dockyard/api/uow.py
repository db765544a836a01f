"""The unit of work: one database session per request, committed when the handler returns.

Routes take `session: UnitOfWork` and never commit or wake anything by hand: the session commits
right after the handler returns (before the answer is sent, so a failed commit is the answer),
rolls back when the handler raises, and `events.bus` wakes the event consumers after a commit
that recorded events. Long bodies (blob uploads) must not hold a session while they stream:
such routes open a unit of work only around their database steps (`unit_of_work_scope`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.auth.deps import services_of
from dockyard.services import Services


async def unit_of_work(request: Request) -> AsyncIterator[AsyncSession]:
    async with services_of(request).session() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


@asynccontextmanager
async def unit_of_work_scope(services: Services) -> AsyncIterator[AsyncSession]:
    """The same unit of work around one database step of a route that must not hold a session
    for the whole request (a body streams before or after): commits when the block ends,
    rolls back when it raises."""
    async with services.session() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


# scope="function": the session commits when the handler returns, before the response is sent.
UnitOfWork = Annotated[AsyncSession, Depends(unit_of_work, scope="function")]
