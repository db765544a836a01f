"""MSR paging parameters and headers (the pages themselves: test_keyset_pages.py)."""

from __future__ import annotations

import pytest
from fastapi import Response

from dockyard.api.pagination import Page, PageParams, page_params, set_page_headers
from dockyard.errors import DockyardError


def test_headers() -> None:
    response = Response()
    set_page_headers(response, Page(["item00"], "item10", 25), PageParams("", 10, True))
    assert response.headers["X-Next-Page-Start"] == "item10"
    assert response.headers["X-Resource-Count"] == "25"
    response = Response()
    set_page_headers(response, Page(["item20"], "", -1), PageParams("item20", 10, False))
    assert "X-Next-Page-Start" not in response.headers
    assert "X-Resource-Count" not in response.headers


@pytest.mark.parametrize("size", [0, -1, 1001])
def test_bad_page_size(size: int) -> None:
    with pytest.raises(DockyardError) as info:
        page_params("", size, False)
    assert info.value.status == 400
