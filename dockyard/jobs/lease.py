"""Claim due rows of a work table with a lease.

A claim moves the row's due time forward by the lease and stamps a fresh token, in one
statement: `UPDATE ... WHERE id IN (SELECT ... [FOR UPDATE SKIP LOCKED]) RETURNING ...`.
On PostgreSQL several claimers skip each other's locked rows; on SQLite the statement takes
the single write lock, so claimers serialise. A claimer that dies leaves rows whose due time
simply arrives again: they are claimed anew (at-least-once). Generic: knows no feature.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession


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
