"""Secrets every replica must share (the UI session key, the registry token key, the key that
encrypts remote registries' credentials), kept in the database when it is PostgreSQL.

A secret is created once, by whichever process asks first: each candidate is inserted with
ON CONFLICT DO NOTHING and the row that won is read back, so two replicas starting at once end
up with the same value. No HTTP here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import String, Text, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.clock import utcnow
from dockyard.db.base import Base
from dockyard.db.types import UTCDateTime


class SharedSecret(Base):
    __tablename__ = "shared_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


async def get_or_create(session: AsyncSession, name: str, make: Callable[[], str]) -> str:
    """The stored secret `name`, first storing `make()` if no process has yet. Commits."""
    existing = await session.scalar(select(SharedSecret.value).where(SharedSecret.name == name))
    if existing is not None:
        return existing
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    await session.execute(
        insert(SharedSecret)
        .values(name=name, value=make(), created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["name"])
    )
    await session.commit()
    # Whoever inserted first, this is the value every replica reads.
    won = await session.scalar(select(SharedSecret.value).where(SharedSecret.name == name))
    if won is None:  # pragma: no cover - the row was just inserted or already there
        raise RuntimeError(f"shared secret {name!r} is missing after its insert")
    return won
