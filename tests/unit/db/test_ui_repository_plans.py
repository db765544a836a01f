"""The repository pages' lists are served by indexes on SQLite and PostgreSQL: the Activity
pages (a repository's and a namespace's events, newest first), the Tags tab in each sort, a
tag's history and an image's referrers. No full scan of a table, no sort for ORDER BY (the
checks are `test_query_plans.py`'s, which are tested to fail)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import Select, select

from dockyard.accounts.principal import Principal
from dockyard.db.engine import create_engine
from dockyard.db.migrate import upgrade
from dockyard.events.models import OutboxEvent
from dockyard.repos.models import Manifest, Repository, TagHistory
from dockyard.repos.service import readable_repositories
from dockyard.ui.activity import namespace_events, repository_events
from dockyard.ui.queries import _tags_with_manifests
from dockyard.ui.tag_queries import TAG_SORTS
from tests.fakes.databases import create_database, drop_database
from tests.unit.db.test_query_plans import _plan, _problems

USER = Principal("user-id", "user", False)


class _Repo:
    id = "repo-id"


def _newest(stmt: Select[Any]) -> Select[Any]:
    return stmt.order_by(OutboxEvent.seq.desc()).limit(51)


def _readable_keys() -> Any:
    names = readable_repositories(USER, None).with_only_columns(
        Repository.namespace + "/" + Repository.name
    )
    return OutboxEvent.repository_key.in_(names)


def _tags(sort: str) -> Select[Any]:
    order, descending = TAG_SORTS[sort]
    columns = [c.desc() for c in order] if descending else list(order)
    return _tags_with_manifests(_Repo).order_by(*columns).limit(51)  # type: ignore[arg-type]


QUERIES: dict[str, Select[Any]] = {
    "repository activity": _newest(repository_events("ns/app")),
    "repository activity, pushes": _newest(repository_events("ns/app", "push")),
    "namespace activity, owner": _newest(namespace_events("ns")),
    "namespace activity, reader": _newest(namespace_events("ns", _readable_keys())),
    **{f"tags, {sort}": _tags(sort) for sort in TAG_SORTS},
    "tag history": select(TagHistory)
    .where(TagHistory.repository_id == "repo-id", TagHistory.tag == "v1")
    .order_by(TagHistory.id.desc())
    .limit(21),
    "referrers": select(Manifest)
    .where(Manifest.repository_id == "repo-id", Manifest.subject_digest.in_(["sha256:x"]))
    .order_by(Manifest.id.desc())
    .limit(201),
}
# Sorted by the index, not after reading: the lists that page.
ORDERED = {
    name for name in QUERIES if name.startswith(("repository activity", "namespace", "tags"))
}


async def _plans(url: str) -> dict[str, tuple[list[str], list[str]]]:
    engine = create_engine(url)
    out = {}
    try:
        async with engine.connect() as conn:
            for name, stmt in QUERIES.items():
                plan = await _plan(conn, stmt)
                out[name] = (plan, _problems(conn.dialect.name, plan, name in ORDERED))
    finally:
        await engine.dispose()
    return out


@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[list[str], list[str]]]:
    url = create_database(tmp_path_factory.mktemp("ui-plans"))
    try:
        upgrade(url)
        return asyncio.run(_plans(url))
    finally:
        drop_database(url)


@pytest.mark.parametrize("name", list(QUERIES))
def test_the_list_is_served_by_an_index(
    plans: dict[str, tuple[list[str], list[str]]], name: str
) -> None:
    plan, problems = plans[name]
    assert plan, "the database gave no plan"
    assert not problems, "\n".join(["plan:", *plan])
