"""Pages of a list for the UI: a window of rows in an indexed order with links to the next and
the previous page, each found in SQL (a deep page costs what the first costs; no count).

A page is named by its first row's token (a tag's name, a subscription's id); the previous
page's start is read backwards from the current start, so no offset is ever counted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

T = TypeVar("T")
U = TypeVar("U")

Column = ColumnElement[Any] | InstrumentedAttribute[Any]


@dataclass(frozen=True)
class Window(Generic[T]):
    items: list[T]
    # The first row of the next page (None: this is the last page) and of the previous page
    # ("": the first page; None: this is the first page).
    next_start: Any
    prev_start: Any

    def map(self, item: Callable[[T], U], token: Callable[[T], str]) -> Window[U]:
        """The same window with its rows turned into items and its starts into tokens."""
        nxt = None if self.next_start is None else token(self.next_start)
        prev = self.prev_start
        if prev not in (None, ""):
            prev = token(prev)
        return Window([item(row) for row in self.items], nxt, prev)


async def keyset_window(
    session: AsyncSession,
    stmt: Select[*tuple[Any, ...]],
    order: Sequence[Column],
    start: Sequence[Any] | None,
    size: int,
    *,
    descending: bool = False,
) -> Window[Any]:
    """Rows of `stmt` in `order` (all columns one way; together unique) from `start` on, at
    most `size`, with the first rows of the next and previous pages."""
    key = tuple_(*order)
    forward = [c.desc() for c in order] if descending else list(order)
    backward = list(order) if descending else [c.desc() for c in order]
    page = stmt
    if start is not None:
        page = page.where(key <= tuple_(*start) if descending else key >= tuple_(*start))
    rows = list((await session.execute(page.order_by(*forward).limit(size + 1))).all())
    prev: Any = None
    if start is not None:
        before = stmt.where(key > tuple_(*start) if descending else key < tuple_(*start))
        back = list((await session.execute(before.order_by(*backward).limit(size))).all())
        if back:
            # Fewer than a page before this one: the previous page is the first.
            prev = back[-1] if len(back) == size else ""
    return Window(rows[:size], rows[size] if len(rows) > size else None, prev)
