"""MSR list paging: `pageStart`, `pageSize`, `count` in, `X-Next-Page-Start` and
`X-Resource-Count` out (and eNZi's `start`/`limit` variant with `nextPageStart` in the body).

`pageStart` is the key of the first record of the page (MSR: "the ID of the first record"),
not an offset, so pages stay stable while records are added before them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from fastapi import Query, Response
from sqlalchemy import ColumnElement, Select, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from dockyard.errors import DockyardError, ErrorCode

T = TypeVar("T")

MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class PageParams:
    start: str
    size: int
    count: bool


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_start: str
    total: int


def _check_size(size: int, field: str) -> None:
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise DockyardError(
            ErrorCode.INVALID_PARAMETERS,
            f"{field} must be between 1 and {MAX_PAGE_SIZE}.",
            detail={"field": field, "value": size},
        )


def page_params(
    pageStart: str = Query("", description="Key of the first record of the page."),
    pageSize: int = Query(10, description="Records per page (1 to 1000)."),
    count: bool = Query(False, description="Include X-Resource-Count in the answer."),
) -> PageParams:
    _check_size(pageSize, "pageSize")
    return PageParams(pageStart, pageSize, count)


def sized_page_params(default: int, what: str = "Records") -> Callable[..., PageParams]:
    """`page_params` with another default page size (a list MSR answers whole, which dockyard
    pages so that an answer costs a page, not what the registry holds)."""

    def params(
        pageStart: str = Query("", description="Key of the first record of the page."),
        pageSize: int = Query(default, description=f"{what} per page (1 to {MAX_PAGE_SIZE})."),
        count: bool = Query(False, description="Include X-Resource-Count in the answer."),
    ) -> PageParams:
        return page_params(pageStart, pageSize, count)

    return params


def enzi_page_params(
    start: str = Query("", description="Key of the first record of the page."),
    limit: int = Query(100, description="Records per page (1 to 1000; more is read as 1000)."),
) -> PageParams:
    # Scripts ask eNZi for `limit=9999` to get everything: clamp (the next-page key says what
    # is left) instead of refusing.
    _check_size(min(limit, MAX_PAGE_SIZE), "limit")
    return PageParams(start, min(limit, MAX_PAGE_SIZE), True)


def set_page_headers(response: Response, page: Page[T], params: PageParams) -> None:
    if page.next_start:
        response.headers["X-Next-Page-Start"] = page.next_start
    if params.count:
        response.headers["X-Resource-Count"] = str(page.total)


@dataclass(frozen=True)
class Keyset(Generic[T]):
    """How a list is ordered and how its page-start token reads.

    `columns` are the list's order and must identify a record (unique together); `parse` turns a
    `pageStart` token into their values (None: not a key of this list, start at the beginning);
    `token` gives the token of a record, which the next page starts at.
    """

    columns: tuple[ColumnElement[Any] | InstrumentedAttribute[Any], ...]
    parse: Callable[[str], tuple[Any, ...] | None]
    token: Callable[[T], str]


async def keyset_page(
    session: AsyncSession,
    stmt: Select[*tuple[Any, ...]],
    keyset: Keyset[T],
    params: PageParams,
) -> Page[T]:
    """One page of `stmt` in SQL: records from the start key on, one more to find the next start.

    A deep page costs what the first page costs. A start key that no longer exists starts at the
    first record after it, so a deleted start record is no error. The total is counted only when
    asked for (`count=true`, eNZi).
    """
    query = stmt
    values = keyset.parse(params.start) if params.start else None
    if values is not None:
        if len(keyset.columns) == 1:
            query = query.where(keyset.columns[0] >= values[0])
        else:
            query = query.where(tuple_(*keyset.columns) >= tuple_(*values))
    query = query.order_by(*keyset.columns).limit(params.size + 1)
    result = await session.execute(query)
    # One entity: the entities; several columns: the rows (the keyset token reads them).
    found = result.scalars() if len(stmt.column_descriptions) == 1 else result
    rows = cast("list[T]", list(found))
    next_start = keyset.token(rows[params.size]) if len(rows) > params.size else ""
    total = await count_rows(session, stmt) if params.count else -1
    return Page(rows[: params.size], next_start, total)


async def count_rows(session: AsyncSession, stmt: Select[*tuple[Any, ...]]) -> int:
    """How many rows `stmt` selects, counted in SQL."""
    counted = select(func.count()).select_from(stmt.order_by(None).subquery())
    return int(await session.scalar(counted) or 0)
