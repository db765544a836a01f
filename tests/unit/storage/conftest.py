"""Storage tests: the local S3 server (moto), an S3 blob store on a fresh bucket and database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from dockyard.db.base import Base
from dockyard.db.engine import create_engine, create_sessionmaker
from dockyard.storage.s3 import S3BlobStore
from dockyard.storage.s3_client import S3Config
from dockyard.storage.s3_models import S3Upload
from tests.fakes.s3 import ACCESS_KEY, REGION, SECRET_KEY, S3Server
from tests.fakes.s3 import s3_server as s3_server  # the session fixture

S3StoreFactory = Callable[[], S3BlobStore]


@pytest.fixture
async def s3_stores(s3_server: S3Server, database_url: str) -> AsyncIterator[S3StoreFactory]:
    """Makes S3 stores over one bucket and one database: each is a replica (or a restart).
    The database is SQLite, or PostgreSQL with DOCKYARD_TEST_DATABASE_URL (tests/conftest.py)."""
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: Base.metadata.create_all(sync, [S3Upload.__table__]))
    config = S3Config(
        bucket=s3_server.new_bucket(),
        endpoint=s3_server.endpoint,
        region=REGION,
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
        prefix="registry/",
    )
    made: list[S3BlobStore] = []

    def factory() -> S3BlobStore:
        made.append(S3BlobStore(config, create_sessionmaker(engine)))
        return made[-1]

    yield factory
    for store in made:
        await store.close()
    await engine.dispose()
