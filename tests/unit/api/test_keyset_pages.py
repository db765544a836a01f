"""Keyset pages in SQL: every page follows from the last, deep pages cost what first pages cost,
a vanished start key is no error, compound keys order as tuples."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Integer, String, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from dockyard.api.pagination import Keyset, PageParams, keyset_page


class _Base(DeclarativeBase):
    pass


class Item(_Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ns: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(20))


BY_NAME: Keyset[Item] = Keyset((Item.name,), lambda token: (token,), lambda item: item.name)


def _pair(token: str) -> tuple[str, str] | None:
    ns, sep, name = token.partition("/")
    return (ns, name) if sep else None


BY_PAIR: Keyset[Item] = Keyset((Item.ns, Item.name), _pair, lambda i: f"{i.ns}/{i.name}")


@pytest.fixture
async def session(tmp_path: Path) -> AsyncIterator[AsyncSession]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'k.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(_Base.metadata.create_all)
    async with async_sessionmaker(engine)() as s:
        for i in range(25):
            s.add(Item(id=i, ns=f"ns{i % 3}", name=f"n{i:02d}"))
        await s.commit()
        yield s
    await engine.dispose()


async def test_pages_follow_each_other_to_the_end(session: AsyncSession) -> None:
    seen: list[str] = []
    start = ""
    for _ in range(10):
        page = await keyset_page(session, select(Item), BY_NAME, PageParams(start, 10, False))
        seen += [i.name for i in page.items]
        start = page.next_start
        if not start:
            break
    assert seen == [f"n{i:02d}" for i in range(25)]
    assert page.total == -1


async def test_a_vanished_start_key_starts_after_it_and_counts_when_asked(
    session: AsyncSession,
) -> None:
    page = await keyset_page(session, select(Item), BY_NAME, PageParams("n10x", 3, True))
    assert [i.name for i in page.items] == ["n11", "n12", "n13"]
    assert page.next_start == "n14"
    assert page.total == 25


async def test_filters_and_compound_keys(session: AsyncSession) -> None:
    stmt = select(Item).where(Item.ns != "ns1")
    page = await keyset_page(session, stmt, BY_PAIR, PageParams("ns0/n09", 4, True))
    assert [f"{i.ns}/{i.name}" for i in page.items] == ["ns0/n09", "ns0/n12", "ns0/n15", "ns0/n18"]
    assert page.next_start == "ns0/n21"
    assert page.total == 17
    last = await keyset_page(session, stmt, BY_PAIR, PageParams("ns2/n23", 4, False))
    assert [i.name for i in last.items] == ["n23"] and last.next_start == ""
