"""`n`/`last` pagination of /v2 lists and the `Link: <…>; rel="next"` header."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request

from dockyard.errors import DockyardError, ErrorCode

MAX_PAGE = 10000


def page_params(request: Request) -> tuple[int | None, str | None]:
    raw_n = request.query_params.get("n")
    last = request.query_params.get("last") or None
    if raw_n is None or raw_n == "":
        return None, last
    if not raw_n.isdigit():
        raise DockyardError(ErrorCode.PAGINATION_NUMBER_INVALID, detail={"n": raw_n[:20]})
    return min(int(raw_n), MAX_PAGE), last


def next_link(path: str, n: int, last: str) -> str:
    return f'<{path}?{urlencode({"n": n, "last": last})}>; rel="next"'
