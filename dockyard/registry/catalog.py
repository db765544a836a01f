"""GET /v2/_catalog: the repositories the caller can read, with `n`/`last` pagination.

One indexed query per page (`repos.visible.readable_page`: the read rule in SQL over candidates
read from indexes in (namespace, name) order), so a page costs the same whatever the registry's
size and however few repositories the caller can see. A registry bearer token lists what its
account can read only when it holds `registry:catalog:*`; any other token lists just the
repositories it grants `pull` on."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from dockyard.accounts.principal import Principal
from dockyard.auth.deps import require_principal
from dockyard.auth.tokens import CATALOG_SCOPE
from dockyard.registry.pagination import MAX_PAGE, next_link, page_params
from dockyard.repos.visible import readable_page

router = APIRouter(include_in_schema=False)


@router.get("/v2/_catalog")
async def catalog(
    request: Request, principal: Principal = Depends(require_principal)
) -> JSONResponse:
    n, last = page_params(request)
    if principal.scopes is not None and "*" in (principal.actions_for(CATALOG_SCOPE) or ()):
        principal = dataclasses.replace(principal, scopes=None)
    start = None
    if last:
        # `last` is a name this list gave ("namespace/name"); namespaces hold no "/".
        namespace, _sep, name = last.partition("/")
        start = (namespace, name)
    size = MAX_PAGE if n is None else n
    async with request.app.state.services.session() as session:
        rows = (await session.execute(readable_page(principal, start, size + 1))).all()
    names = [repo.full_name for repo, _is_org in rows[:size]]
    headers = {}
    if len(rows) > size and names:
        headers["Link"] = next_link("/v2/_catalog", size, names[-1])
    return JSONResponse({"repositories": names}, headers=headers)
