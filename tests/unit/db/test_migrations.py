"""The migrated schema equals the models: no table, column, index or type is missing either way."""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from dockyard.db.engine import create_engine
from dockyard.db.migrate import upgrade
from dockyard.db.models import Base
from dockyard.repos.search import ALEMBIC_IGNORED


def _in_models(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Migration 0015's search tables (and their FTS5 shadow tables) and expression indexes are
    kept outside the models."""
    return not (name or "").startswith(tuple(ALEMBIC_IGNORED))


def _diff(connection: Connection) -> list[Any]:
    opts = {"compare_type": True, "include_object": _in_models}
    context = MigrationContext.configure(connection, opts=opts)
    with warnings.catch_warnings():
        # SQLAlchemy does not reflect SQLite's expression indexes (and says so).
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based")
        return list(compare_metadata(context, Base.metadata))


async def _schema_diff(url: str) -> list[Any]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_diff)
    finally:
        await engine.dispose()


def test_migrations_produce_the_models_schema(database_url: str) -> None:
    upgrade(database_url)
    assert asyncio.run(_schema_diff(database_url)) == []


def test_upgrade_is_idempotent(database_url: str) -> None:
    upgrade(database_url)
    upgrade(database_url)
    assert asyncio.run(_schema_diff(database_url)) == []
