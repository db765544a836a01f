"""MSR's image scanning API at /api/v0/imagescan: start a scan (writers), read the results
(readers: ScanSummary by tag or digest, searches by CVE or component, per-tag counts, the CSV
export, a CycloneDX SBOM), the scanner's status, and a database upload (admins).

Thin: authorize through `auth.access` (`repos.lookups`), call `scanning.service`/`results`,
shape the answer; the unit of work commits. An upload is stored in the data folder and imported
by the scanner as a job, so the request returns at once and a restart resumes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.datastructures import UploadFile

from dockyard.accounts.principal import Principal
from dockyard.api.responses import errors
from dockyard.api.routing import AuthenticateFirstRoute
from dockyard.api.uow import UnitOfWork
from dockyard.auth.deps import get_principal, require_principal, services_of
from dockyard.auth.orgs import forbidden
from dockyard.errors import DockyardError, ErrorCode
from dockyard.meta import service as meta_settings
from dockyard.repos.lookups import repository_for
from dockyard.rules.permissions import AccessLevel
from dockyard.scanning import results
from dockyard.scanning import service as scanning
from dockyard.scanning.models import ImageScan
from dockyard.scanning.schemas import (
    ScannerStatus,
    ScanSubmitted,
    ScanSummaryOut,
    TagsCounts,
    TagsQuery,
    UpdateAccepted,
)
from dockyard.scanning.uploads import NotAnArchive, save_archive
from dockyard.scanning.vulndb import current_db

CSV_EXAMPLE = (
    "image,platform,vulnerability,aliases,severity,cvss,ecosystem,package,installed_version,"
    "fixed_version,layer,link\r\n"
    "acme/app:1.0@sha256:0afb…,linux/amd64,CVE-2023-4911,DSA-5514-1,critical,7.8,Debian,glibc,"
    "2.36-9+deb12u1,2.36-9+deb12u3,sha256:5d0d…,https://osv.dev/vulnerability/CVE-2023-4911\r\n"
)
# The outline of a CycloneDX 1.5 JSON document (the full schema is CycloneDX's own).
SBOM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "bomFormat": {"type": "string", "const": "CycloneDX"},
        "specVersion": {"type": "string", "examples": ["1.5"]},
        "metadata": {"type": "object"},
        "components": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["bomFormat", "specVersion"],
}

router = APIRouter(
    prefix="/api/v0/imagescan", tags=["imagescan"], route_class=AuthenticateFirstRoute
)


async def _enabled(request: Request, session: Any) -> bool:
    """scanningEnabled as it applies now (the configured value, or the one set through
    /api/v0/meta/settings)."""
    return await meta_settings.scanning_enabled(session, services_of(request).settings)


@router.post(
    "/scan/{namespace}/{reponame}/{tag}/{os}/{arch}",
    response_model=ScanSubmitted,
    summary="Scan one image of a tag (writers)",
    responses=errors(400, 401, 403, 404),
)
async def scan_image(
    request: Request,
    session: UnitOfWork,
    namespace: str,
    reponame: str,
    tag: str,
    os: str,
    arch: str,
    principal: Principal = Depends(require_principal),
) -> dict[str, Any]:
    repo, _ns = await repository_for(
        session, principal, namespace, reponame, AccessLevel.READ_WRITE, "scan this repository"
    )
    enabled = await _enabled(request, session)
    jobs = await scanning.request_scan(session, repo, tag, os, arch, enabled=enabled)
    return {"message": "Successfully submitted image to jobrunner", "jobs": jobs}


@router.get(
    "/status",
    response_model=ScannerStatus,
    summary="The scanner and its vulnerability database",
    responses=errors(401),
)
async def status(
    request: Request, session: UnitOfWork, _p: Principal = Depends(require_principal)
) -> dict[str, Any]:
    return await results.scanner_status(session, await _enabled(request, session))


async def _scans(
    session: Any, principal: Principal | None, namespace: str, reponame: str, reference: str
) -> list[ImageScan]:
    repo, _ns = await repository_for(
        session, principal, namespace, reponame, AccessLevel.READ_ONLY, "see this repository"
    )
    rows = await results.image_scans(session, repo, reference)
    if rows is None:
        raise DockyardError(ErrorCode.NO_SUCH_TAG, detail={"reference": reference[:200]})
    return rows


async def _current_version(session: Any) -> int | None:
    db = await current_db(session)
    return db.version if db else None


@router.get(
    "/scansummary/repositories/{namespace}/{reponame}/{reference}",
    response_model=list[ScanSummaryOut],
    summary="The scans of a tag or digest (one per platform)",
    responses=errors(400, 401, 404),
)
async def scan_summaries(
    session: UnitOfWork,
    namespace: str,
    reponame: str,
    reference: str,
    scanstatus: int | None = None,
    os: str = "",
    arch: str = "",
    principal: Principal | None = Depends(get_principal),
) -> list[dict[str, Any]]:
    rows = await _scans(session, principal, namespace, reponame, reference)
    rows = [
        r
        for r in rows
        if (scanstatus is None or int(r.status) == scanstatus)
        and (not os or r.os == os)
        and (not arch or r.architecture == arch)
    ]
    version = await _current_version(session)
    return [results.scan_summary(r, version) for r in rows]


@router.get(
    "/scansummary/repositories/{namespace}/{reponame}/{reference}/export",
    summary="The vulnerabilities of a tag as CSV",
    response_class=Response,
    responses={
        **errors(401, 404),
        200: {
            "description": "One line per vulnerability of each scanned platform of the tag.",
            "content": {"text/csv": {"schema": {"type": "string"}, "example": CSV_EXAMPLE}},
        },
    },
)
async def export(
    session: UnitOfWork,
    namespace: str,
    reponame: str,
    reference: str,
    principal: Principal | None = Depends(get_principal),
) -> Response:
    rows = await _scans(session, principal, namespace, reponame, reference)
    name = f"{namespace}-{reponame}-{reference}".replace(":", "_").replace("/", "_")
    return Response(
        results.export_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


@router.get(
    "/scansummary/repositories/{namespace}/{reponame}/{reference}/sbom",
    summary="A CycloneDX 1.5 SBOM of a tag's scanned images (dockyard's own)",
    response_class=Response,
    responses={
        **errors(401, 404),
        200: {
            "description": "A CycloneDX 1.5 JSON document.",
            "content": {"application/vnd.cyclonedx+json": {"schema": SBOM_SCHEMA}},
        },
    },
)
async def sbom(
    session: UnitOfWork,
    namespace: str,
    reponame: str,
    reference: str,
    principal: Principal | None = Depends(get_principal),
) -> Response:
    rows = await _scans(session, principal, namespace, reponame, reference)
    # The SBOM writer (cyclonedx, packageurl) loads on the first SBOM asked for, not in every
    # HTTP process at start.
    from dockyard.scanning.sbom import build_sbom

    return Response(build_sbom(rows), media_type="application/vnd.cyclonedx+json; version=1.5")


@router.post(
    "/scansummary/tags",
    response_model=TagsCounts,
    summary="Counts of several images",
    responses=errors(400, 401),
)
async def tag_counts(
    session: UnitOfWork,
    query: TagsQuery,
    principal: Principal | None = Depends(get_principal),
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for image in query.images:
        path, _sep, tag = image.name.partition(":")
        namespace, _slash, reponame = path.partition("/")
        reference = image.digest or tag
        try:
            rows = await _scans(session, principal, namespace, reponame, reference)
        except DockyardError:
            continue  # unknown or unreadable: left out, as a missing image
        out[image.name] = {
            "critical": sum(r.critical for r in rows),
            "major": sum(r.major for r in rows),
            "minor": sum(r.minor for r in rows),
        }
    return {"images": out}


@router.get(
    "/scansummary/cve/{cve}",
    response_model=list[ScanSummaryOut],
    summary="Scanned images with a vulnerability (id or alias)",
    responses=errors(401),
)
async def by_cve(
    session: UnitOfWork, cve: str, principal: Principal | None = Depends(get_principal)
) -> list[dict[str, Any]]:
    version = await _current_version(session)
    found = await results.search(session, principal, cve=cve)
    return [results.scan_summary(r, version) for r in found]


@router.get(
    "/scansummary/component/{component}",
    response_model=list[ScanSummaryOut],
    summary="Scanned images holding a component (package name)",
    responses=errors(401),
)
async def by_component(
    session: UnitOfWork, component: str, principal: Principal | None = Depends(get_principal)
) -> list[dict[str, Any]]:
    version = await _current_version(session)
    found = await results.search(session, principal, component=component)
    return [results.scan_summary(r, version) for r in found]


def _not_ready(message: str) -> DockyardError:
    return DockyardError(ErrorCode.SCANNING_DB_NOT_READY, message)


async def _store_upload(request: Request) -> Path:
    """The multipart `file`, copied into the data folder (the import job reads it there)."""
    try:
        form = await request.form(max_files=1, max_fields=10)
    except Exception as exc:
        raise _not_ready("Send the database archive as a multipart/form-data `file`.") from exc
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise _not_ready("Send the database archive as a multipart/form-data `file`.")
    data_dir = services_of(request).settings.data_dir
    try:
        return await save_archive(upload.file, upload.filename or "", data_dir)
    except NotAnArchive as exc:
        raise _not_ready(str(exc)) from exc


@router.put(
    "/scan/update",
    status_code=202,
    response_model=UpdateAccepted,
    summary="Import a vulnerability database archive (admins; offline mode)",
    responses=errors(400, 401, 403, 413),
    # Read by hand (request.form): the archive may be large and is copied to the data folder.
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                    },
                    "example": {"file": "osv-all.zip (an OSV archive: zip, tar, tar.gz)"},
                }
            },
        }
    },
)
async def update_database(
    request: Request,
    session: UnitOfWork,
    online: bool = Query(default=False),
    principal: Principal = Depends(require_principal),
) -> dict[str, Any]:
    if not principal.is_admin:
        raise forbidden("Only registry admins may update the vulnerability database.")
    if online:
        raise _not_ready("Online updates are not available: upload an archive (`file`).")
    source = await _store_upload(request)
    job = scanning.enqueue_import(session, str(source))
    await session.flush()
    return {
        "message": "The database archive is being imported",
        "jobId": job.id,
        "db_version": await _current_version(session) or 0,
    }
