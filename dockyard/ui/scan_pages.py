"""Scanning pages: "Scan" on a tag (writers) and the admin's Vulnerability database page (upload
an OSV archive, the current version, the replicas). Thin: `scanning.service` queues the work,
`scanning.uploads` stores an archive, `scanning.views` shapes what the pages show. The tag page
and the Tags tab read their scan parts in `repo_pages` through `scanning.views`.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from sqlalchemy import select
from starlette.datastructures import UploadFile

from dockyard.api.uow import UnitOfWork
from dockyard.clock import utcnow
from dockyard.meta import service as meta_settings
from dockyard.repos.models import Tag
from dockyard.scanning import service as scanning
from dockyard.scanning.uploads import NotAnArchive, save_archive
from dockyard.scanning.views import database_state
from dockyard.ui.render import FORBIDDEN, Page, UiError, page_context, redirect, render
from dockyard.ui.repo_pages import load_repo

router = APIRouter()

ADMIN_MESSAGES = {
    "db-queued": "The archive was uploaded and is being imported. Reload to see the new version.",
}


@router.post("/repositories/{namespace}/{name}/tags/{tag}/scan")
async def scan_tag(
    namespace: str, name: str, tag: str, session: UnitOfWork, page: Page = Depends(page_context)
) -> Response:
    await page.check_csrf()
    view = await load_repo(page, session, namespace, name)
    if not view.can_write:
        raise FORBIDDEN
    row = await session.scalar(
        select(Tag).where(Tag.repository_id == view.repo.id, Tag.name == tag)
    )
    if row is None:
        raise UiError(
            404,
            f"The tag {namespace}/{name}:{tag} not found",
            "The tag was deleted or moved meanwhile. Go back to the Tags tab.",
        )
    base = f"/repositories/{namespace}/{name}/tags/{tag}"
    if not await meta_settings.scanning_enabled(session, page.services.settings):
        return redirect(page, f"{base}?msg=scan-disabled")
    queued = await scanning.enqueue_tag(session, view.repo, tag, row.digest)
    return redirect(page, f"{base}?msg={'scan-queued' if queued else 'scan-nothing'}")


async def _database_page(
    page: Page, session: UnitOfWork, error: str | None = None, status: int = 200
) -> Response:
    state = await database_state(session, utcnow())
    return render(
        page,
        "scanning_admin.html",
        status=status,
        state=state,
        enabled=await meta_settings.scanning_enabled(session, page.services.settings),
        error=error,
        msg=ADMIN_MESSAGES.get(page.request.query_params.get("msg", "")),
    )


@router.get("/admin/scanning")
async def database_page(session: UnitOfWork, page: Page = Depends(page_context)) -> Response:
    if not page.user.is_admin:
        raise FORBIDDEN
    return await _database_page(page, session)


@router.post("/admin/scanning")
async def upload_database(session: UnitOfWork, page: Page = Depends(page_context)) -> Response:
    # Refused before the body is read: a non-admin's upload is never parsed or stored.
    if not page.user.is_admin:
        raise FORBIDDEN
    form = await page.check_csrf()
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await _database_page(page, session, "Choose an OSV archive to upload.", 400)
    try:
        path = await save_archive(upload.file, upload.filename, page.services.settings.data_dir)
    except NotAnArchive as exc:
        return await _database_page(page, session, str(exc), 400)
    scanning.enqueue_import(session, str(path))
    return redirect(page, "/admin/scanning?msg=db-queued")
