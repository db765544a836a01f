"""MSR paging: pageStart is the key of the first record; X-Next-Page-Start the next one's."""

from __future__ import annotations

import pytest
from fastapi import Response

from dockyard.api.pagination import PageParams, page_params, paginate, set_page_headers
from dockyard.errors import DockyardError

ITEMS = [f"item{i:02d}" for i in range(25)]


def _key(item: str) -> str:
    return item


def test_walk_all_pages() -> None:
    seen: list[str] = []
    start = ""
    while True:
        page = paginate(ITEMS, _key, PageParams(start, 10, False))
        seen.extend(page.items)
        if not page.next_start:
            break
        start = page.next_start
    assert seen == ITEMS


def test_unknown_start_begins_at_next_key() -> None:
    page = paginate(ITEMS, _key, PageParams("item04x", 3, False))
    assert page.items == ["item05", "item06", "item07"]
    assert paginate(ITEMS, _key, PageParams("zzz", 3, False)).items == []


def test_headers() -> None:
    page = paginate(ITEMS, _key, PageParams("", 10, True))
    response = Response()
    set_page_headers(response, page, PageParams("", 10, True))
    assert response.headers["X-Next-Page-Start"] == "item10"
    assert response.headers["X-Resource-Count"] == "25"
    last = paginate(ITEMS, _key, PageParams("item20", 10, False))
    response = Response()
    set_page_headers(response, last, PageParams("item20", 10, False))
    assert "X-Next-Page-Start" not in response.headers
    assert "X-Resource-Count" not in response.headers


@pytest.mark.parametrize("size", [0, -1, 1001])
def test_bad_page_size(size: int) -> None:
    with pytest.raises(DockyardError) as info:
        page_params("", size, False)
    assert info.value.status == 400
