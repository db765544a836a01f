"""`repos.visible` reads a page from index ranges (public, the caller's namespaces, team grants)
and lets the read rule filter those candidates: paging through it, a page at a time, must give
exactly the list the rule alone gives, in (namespace, name) order, for every kind of caller
(anonymous, a user with every kind of grant, another user, an administrator, a bearer token
naming some repositories); so must the UI's list, page after page, with its total. The
database holds one repository per situation (the read rule test's, `_build`).
"""

from __future__ import annotations

import asyncio
import dataclasses

from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.accounts.principal import Principal
from dockyard.db.engine import create_engine, create_sessionmaker
from dockyard.db.migrate import upgrade
from dockyard.repos.models import Repository
from dockyard.repos.service import readable_repositories
from dockyard.repos.visible import readable_page
from dockyard.ui.queries import visible_repositories
from tests.unit.repos.test_repos_read_rule import _build


async def _paged(session: AsyncSession, principal: Principal | None, size: int) -> list[str]:
    names: list[str] = []
    start = None
    while True:
        rows = (await session.execute(readable_page(principal, start, size))).all()
        names += [repo.full_name for repo, _is_org in rows]
        if len(rows) < size:
            return names
        start = (rows[-1][0].namespace, rows[-1][0].name)


async def _expected(session: AsyncSession, principal: Principal | None) -> list[str]:
    stmt = readable_repositories(principal).order_by(Repository.namespace, Repository.name)
    found = [repo.full_name for repo, _is_org in await session.execute(stmt)]
    if principal is not None and principal.scopes is not None:
        named = {name for name, _actions in principal.scopes}
        found = [name for name in found if name in named]
    return found


async def _ui_pages(session: AsyncSession, principal: Principal) -> list[str]:
    """The UI's repository list (offset pages and a total), page after page."""
    names: list[str] = []
    while True:
        rows, total = await visible_repositories(session, principal, "", len(names), 4)
        names += [row.repo.full_name for row in rows]
        if not rows:
            assert total == len(names)
            return names


async def _scenario(url: str) -> list[tuple[str, int]]:
    engine = create_engine(url)
    maker = create_sessionmaker(engine)
    checked = []
    try:
        principals, labels = await _build(maker)
        me = principals[1]
        assert me is not None
        some = sorted(labels)[::3]
        scoped = dataclasses.replace(me, scopes=tuple((name, frozenset({"pull"})) for name in some))
        async with maker() as session:
            for principal in [*principals, scoped]:
                expected = await _expected(session, principal)
                for size in (1, 3, 7, 500):
                    got = await _paged(session, principal, size)
                    who = principal.name if principal else "anonymous"
                    assert got == expected, (who, size)
                who = "token" if principal is scoped else who
                checked.append((who, len(expected)))
                if principal is not None and principal is not scoped:
                    assert await _ui_pages(session, principal) == expected, who
    finally:
        await engine.dispose()
    return checked


def test_paging_through_the_candidates_gives_exactly_the_rule_s_list(database_url: str) -> None:
    upgrade(database_url)
    checked = dict(asyncio.run(_scenario(database_url)))
    # Not vacuous: the callers see different, non-empty lists.
    assert checked["anonymous"] > 0
    assert checked["root"] > checked["me"] > checked["anonymous"] > 0
    assert 0 < checked["token"] < checked["me"]
