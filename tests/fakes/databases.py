"""Test databases: a SQLite file per server, or a fresh PostgreSQL database per server when
DOCKYARD_TEST_DATABASE_URL is set (so parallel tests never share state)."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import asyncpg

PG_URL_ENV = "DOCKYARD_TEST_DATABASE_URL"


def postgres_base_url() -> str | None:
    return os.environ.get(PG_URL_ENV) or None


def _dsn(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _with_db(sqlalchemy_url: str, name: str) -> str:
    base = sqlalchemy_url.rsplit("/", 1)[0]
    return f"{base}/{name}"


async def _admin(base_url: str, sql: str) -> None:
    conn = await asyncpg.connect(_dsn(base_url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_database(tmp_dir: Path) -> str:
    """A new, empty database URL for one server or test."""
    base = postgres_base_url()
    if base is None:
        return f"sqlite+aiosqlite:///{tmp_dir / 'dockyard.db'}"
    name = f"dockyard_t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(base, f'CREATE DATABASE "{name}"'))
    return _with_db(base, name)


def drop_database(url: str) -> None:
    base = postgres_base_url()
    if base is None or url.startswith("sqlite"):
        return
    name = url.rsplit("/", 1)[1]
    asyncio.run(_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
