"""Scan on push queues scans for the pushed tags that still point at the pushed digest, in their
own repository, and only where the repository scans on push."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts.models import Account
from dockyard.clock import utcnow
from dockyard.db.engine import create_engine, create_sessionmaker
from dockyard.db.migrate import upgrade
from dockyard.events.models import OutboxEvent
from dockyard.repos.models import Repository, Tag
from dockyard.scanning import push_consumer


def _push(repository: str, tag: str, digest: str) -> dict[str, Any]:
    contents = {"namespace": "ns", "repository": repository, "tag": tag, "digest": digest}
    return {
        "type": "TAG_PUSH",
        "repository_key": f"ns/{repository}",
        "namespace_key": "ns",
        "actor": "a",
        "payload": {"type": "TAG_PUSH", "contents": contents},
        # Long settled: on PostgreSQL a cursor passes only events a few seconds old.
        "created_at": utcnow().replace(year=2000),
    }


def test_only_tags_still_at_the_pushed_digest_are_scanned(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    upgrade(database_url)
    queued: list[tuple[str, str, str]] = []

    async def enqueue_tag(_session: AsyncSession, repo: Repository, tag: str, digest: str) -> int:
        queued.append((repo.name, tag, digest))
        return 1

    monkeypatch.setattr(push_consumer, "enqueue_tag", enqueue_tag)

    async def go() -> None:
        engine = create_engine(database_url)
        try:
            async with create_sessionmaker(engine)() as session:
                session.add(Account(id="acc", name="ns"))
                for key, name, scans in (("a", "a", True), ("b", "b", True), ("q", "q", False)):
                    session.add(
                        Repository(
                            id=key,
                            namespace_id="acc",
                            namespace="ns",
                            name=name,
                            scan_on_push=scans,
                        )
                    )
                await session.flush()
                # The same tag name in two repositories, at different digests.
                session.add_all(
                    [
                        Tag(repository_id="a", name="v1", digest="sha256:1"),
                        Tag(repository_id="b", name="v1", digest="sha256:2"),
                        Tag(repository_id="q", name="v1", digest="sha256:1"),
                    ]
                )
                await session.execute(
                    insert(OutboxEvent),
                    [
                        _push("a", "v1", "sha256:1"),
                        _push("b", "v1", "sha256:1"),  # moved since
                        _push("b", "v1", "sha256:2"),
                        _push("a", "gone", "sha256:1"),  # deleted since
                        _push("q", "v1", "sha256:1"),  # does not scan on push
                    ],
                )
                await session.commit()
            async with create_sessionmaker(engine)() as session:
                assert await push_consumer.consume_pushes(session, enabled=True) == 5
                await session.commit()
        finally:
            await engine.dispose()

    asyncio.run(go())
    assert queued == [("a", "v1", "sha256:1"), ("b", "v1", "sha256:2")]
