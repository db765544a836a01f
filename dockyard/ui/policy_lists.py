"""Pages of policies for the repository tabs: 50 a page in creation order, read in SQL
(`ui.windows`), a list paged by its own query parameter so paging it does not move the page's
other lists. A page starts at a policy's id. (A repository's own promotion and mirroring
policies need no pages: the services cap them at 50; the promotion policies of other
repositories into it are not capped.)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.policies.mirror_models import MirroringPolicy
from dockyard.policies.models import PromotionPolicy
from dockyard.ui.render import Page
from dockyard.ui.windows import Window, keyset_window

PER_PAGE = 50

Policy = type[PromotionPolicy] | type[MirroringPolicy]


async def policy_window(
    page: Page, session: AsyncSession, model: Policy, where: ColumnElement[bool], param: str
) -> Window[Any]:
    """One page of `model`'s rows matching `where`, from the policy named by `param` on."""
    start_id = page.request.query_params.get(param, "")[:36]
    start = None
    if start_id:
        found = await session.execute(
            select(model.created_at, model.id).where(model.id == start_id)
        )
        # An unknown id (deleted since the link was made) shows the first page.
        first = found.first()
        start = (first[0], first[1]) if first is not None else None
    stmt = select(model).where(where)
    window = await keyset_window(session, stmt, (model.created_at, model.id), start, PER_PAGE)
    return window.map(lambda row: row[0], lambda row: row[0].id)
