"""Claim due rows of a work table with a lease.

A claim moves the row's due time forward by the lease and stamps a fresh token, in one
statement: `UPDATE ... WHERE id IN (SELECT ... [FOR UPDATE SKIP LOCKED]) RETURNING ...`.
On PostgreSQL several claimers skip each other's locked rows; on SQLite the statement takes
the single write lock, so claimers serialise. A claimer that dies leaves rows whose due time
simply arrives again: they are claimed anew (at-least-once). Work that may outlast its lease
runs under `run_renewing`, which moves the due time forward every so often while the work runs
(`renew`), and stops the work when the rows were claimed by someone else meanwhile.
Generic: knows no feature.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Row, Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger(__name__)
T = TypeVar("T")


class LeaseLost(Exception):
    """The rows held under a lease were claimed by another worker; the work was stopped."""


def new_token() -> str:
    return str(uuid.uuid4())


async def claim(
    session: AsyncSession,
    table: Table,
    *,
    where: ColumnElement[bool],
    due_column: str,
    token_column: str,
    now: datetime,
    lease_seconds: float,
    limit: int,
    returning: Sequence[str],
) -> tuple[str, Sequence[Row[Any]]]:
    """Claim up to `limit` rows matching `where` whose `due_column` is due. Returns the lease
    token and the claimed rows (columns `returning`). The caller commits."""
    due = table.c[due_column]
    pk = next(iter(table.primary_key.columns))
    candidates = select(pk).where(where, due <= now).order_by(due).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    token = new_token()
    stmt = (
        update(table)
        .where(pk.in_(candidates.scalar_subquery()))
        .values({due_column: now + timedelta(seconds=lease_seconds), token_column: token})
        .returning(*(table.c[name] for name in returning))
    )
    rows = (await session.execute(stmt)).all()
    return token, rows


async def renew(
    session: AsyncSession,
    table: Table,
    *,
    due_column: str,
    token_column: str,
    token: str,
    now: datetime,
    lease_seconds: float,
) -> set[Any]:
    """Move the due time of the rows still held under `token` to `now + lease_seconds`.
    Returns the primary keys of the rows still held (a row finished, or claimed anew by
    another worker, is not). The caller commits."""
    pk = next(iter(table.primary_key.columns))
    stmt = (
        update(table)
        .where(table.c[token_column] == token)
        .values({due_column: now + timedelta(seconds=lease_seconds)})
        .returning(pk)
    )
    return set((await session.execute(stmt)).scalars())


async def release(
    session: AsyncSession,
    table: Table,
    *,
    where: ColumnElement[bool],
    due_column: str,
    token_column: str,
    tokens: Sequence[str],
    now: datetime,
) -> int:
    """Give back the rows still held under `tokens` (a worker stopping cleanly): due at
    `now`, no token, so another worker claims them at once instead of when the lease ends.
    Returns how many. The caller commits."""
    if not tokens:
        return 0
    stmt = (
        update(table)
        .where(table.c[token_column].in_(list(tokens)), where)
        .values({due_column: now, token_column: None})
    )
    result: Any = await session.execute(stmt)
    return int(result.rowcount or 0)


async def run_renewing(
    work: Awaitable[T], renew_once: Callable[[], Awaitable[bool]], every: float
) -> T:
    """Run `work`, calling `renew_once()` every `every` seconds until it ends. When
    `renew_once` answers False (the rows are no longer held) the work is cancelled and
    `LeaseLost` raised; a renewal that fails (the database unreachable for a moment) is
    logged and tried again at the next interval, as the lease still has time left."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=every)
            if done:
                return task.result()
            try:
                held = await renew_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("job.lease.renew_failed")
                continue
            if not held:
                raise LeaseLost()
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
