"""The Tags tab and the tag page: tags sorted and filtered in SQL, a page at a time, with pull
commands, platforms and scans; one tag's image (layers, config, history, annotations), its
referrers and the tag's own history. Thin: the reads are in `queries`, `tag_queries`,
`image_details` and `scanning.views`.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from dockyard.api.uow import UnitOfWork
from dockyard.repos import content
from dockyard.scanning.views import tag_counts, tag_scans
from dockyard.ui.image_details import image_config, manifest_details
from dockyard.ui.queries import repository_tags
from dockyard.ui.render import FORBIDDEN, Page, not_found, page_context, redirect, render
from dockyard.ui.repo_pages import load_repo
from dockyard.ui.tag_queries import (
    TAG_SORTS,
    index_platforms,
    referrer_groups,
    sorted_tags_window,
    tag_history_window,
)

router = APIRouter()

TAGS_PER_PAGE = 50
SORT_LABELS = {
    "newest": "Newest first",
    "oldest": "Oldest first",
    "name": "Name, A to Z",
    "name-desc": "Name, Z to A",
}


@router.get("/repositories/{namespace}/{name}/tags")
async def repository_tags_page(
    namespace: str,
    name: str,
    session: UnitOfWork,
    q: str = "",
    start: str = "",
    sort: str = "newest",
    page: Page = Depends(page_context),
) -> Response:
    view = await load_repo(page, session, namespace, name)
    sort = sort if sort in TAG_SORTS else "newest"
    # One page of tags, filtered, sorted and cut in SQL (a repository may hold many).
    window = await sorted_tags_window(session, view.repo, q.strip(), start, TAGS_PER_PAGE, sort)
    tags = window.items
    scans = await tag_counts(session, view.repo, [(r.tag.name, r.tag.digest) for r in tags])
    return render(
        page,
        "repository_tags.html",
        view=view,
        tab="tags",
        tags=tags,
        window=window,
        q=q.strip(),
        sort=sort,
        sorts=SORT_LABELS,
        scans=scans,
        platforms=await index_platforms(session, view.repo, [r.tag.digest for r in tags]),
        host=page.services.registry_host,
    )


@router.get("/repositories/{namespace}/{name}/tags/{tag}")
async def tag_page(
    namespace: str,
    name: str,
    tag: str,
    session: UnitOfWork,
    platform: str = "",
    history_start: str = "",
    page: Page = Depends(page_context),
) -> Response:
    view = await load_repo(page, session, namespace, name)
    rows = await repository_tags(session, view.repo, tag)
    if not rows:
        raise not_found(f"The tag {namespace}/{name}:{tag}")
    row = rows[0]
    storage = page.services.storage
    details = await manifest_details(storage, row.tag.digest)
    # An index shows one platform's image at a time: the one asked for, else the first.
    chosen = None
    image = details
    if details.is_index and details.platforms:
        chosen = next((p for p in details.platforms if p.digest == platform), None)
        chosen = chosen or details.platforms[0]
        image = await manifest_details(storage, chosen.digest)
    subjects = [row.tag.digest] + ([chosen.digest] if chosen else [])
    groups, more_referrers = await referrer_groups(session, view.repo, subjects)
    return render(
        page,
        "tag.html",
        view=view,
        tab="tags",
        row=row,
        details=details,
        chosen=chosen,
        image=image,
        config=await image_config(storage, image),
        # The index's annotations, then the chosen platform's image's.
        notes={**details.annotations, **(image.annotations if chosen else {})},
        referrers=groups,
        more_referrers=more_referrers,
        history=await tag_history_window(session, view.repo, tag, history_start),
        scans=await tag_scans(session, view.repo, tag),
        host=page.services.registry_host,
    )


@router.post("/repositories/{namespace}/{name}/tags/{tag}/delete")
async def delete_tag(
    namespace: str, name: str, tag: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    await page.check_csrf()
    view = await load_repo(page, session, namespace, name)
    if not view.can_write:
        raise FORBIDDEN
    await content.delete_tag(session, page.services.registry_host, view.repo, tag, page.user.name)
    return redirect(page, f"/repositories/{namespace}/{name}/tags?msg=tag-deleted")
