"""Wire shapes of MSR's image scanning API (`/api/v0/imagescan`), in and out: ScanSummary,
ScannedImage, the scanner status, the per-tag counts. Field names are MSR's (camelCase outside,
snake_case where MSR has it). No HTTP, no database here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue

_DIGEST = "sha256:" + "a" * 64
_COUNTS: dict[str, JsonValue] = {"critical": 1, "major": 2, "minor": 0}
_IMAGE: dict[str, JsonValue] = {
    "namespace": "acme",
    "repository": "app",
    "tag": "1.0",
    "manifestDigest": _DIGEST,
    "os": "linux",
    "architecture": "amd64",
    "totalVulnCount": _COUNTS,
    "licenses": ["MIT"],
    "layers": [{"digest": "sha256:" + "b" * 64, "components": 12}],
    "components": [],
    "cves": [],
    "maxCVSSValue": 9.8,
    "scannerFingerprint": "dockyard-1.0.0/db3",
    "vulnOverrides": [],
    "checkCompletedAt": "2026-11-30T21:00:00.000Z",
    "error": "",
}
_SUMMARY: dict[str, JsonValue] = {"scanStatus": 6, "scannedImage": _IMAGE, "shouldRescan": False}


def _examples(*examples: JsonValue) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)})


class VulnCount(BaseModel):
    model_config = _examples(_COUNTS)

    critical: int
    major: int
    minor: int


class ScannedImage(BaseModel):
    model_config = _examples(_IMAGE)

    namespace: str
    repository: str
    tag: str
    manifestDigest: str
    os: str
    architecture: str
    totalVulnCount: VulnCount
    licenses: list[str]
    layers: list[dict[str, Any]]
    components: list[dict[str, Any]] = Field(
        description="Packages found (ecosystem, name, version, purl, license, layer) and the "
        "vulnerabilities matched on each"
    )
    cves: list[dict[str, Any]] = Field(
        description="Each vulnerability found: id, aliases, summary, severity, cvss, "
        "severity_note, package, fixed_version, link"
    )
    maxCVSSValue: float
    scannerFingerprint: str
    vulnOverrides: list[dict[str, Any]]
    checkCompletedAt: str
    error: str


class ScanSummaryOut(BaseModel):
    """MSR's ScanSummary. `scanStatus`: 0 Failed, 1 Unscanned, 2 Scanning, 3 Pending,
    4 Scanned, 5 Checking, 6 Completed."""

    model_config = _examples(_SUMMARY)

    scanStatus: int
    scannedImage: ScannedImage
    shouldRescan: bool


class ScanSubmitted(BaseModel):
    model_config = _examples({"message": "Successfully submitted image to jobrunner", "jobs": 1})

    message: str
    jobs: int = Field(description="Scan jobs queued (one per platform)")


class ImageName(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(description='"namespace/repository:tag" or "namespace/repository"')
    digest: str = ""


class TagsQuery(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [{"images": [{"name": "acme/app:1.0", "digest": ""}]}]},
    )

    images: list[ImageName] = Field(max_length=1000)


class TagsCounts(BaseModel):
    model_config = _examples({"images": {"acme/app:1.0": _COUNTS}})

    images: dict[str, VulnCount]


class ReplicaOut(BaseModel):
    db_updated_at: str
    version: str
    replica_id: str


class ScannerStatus(BaseModel):
    model_config = _examples(
        {
            "state": "ready",
            "scanner_version": "dockyard-1.0.0",
            "scannerUpdatedAt": "2026-11-30T21:00:00.000Z",
            "db_version": 3,
            "db_updated_at": "2026-11-30T21:00:00.000Z",
            "lastDBUpdateFailed": False,
            "lastVulnOverridesDBUpdateFailed": False,
            "replicas": {},
        }
    )

    state: str = Field(description="ready, no_database or disabled")
    scanner_version: str
    scannerUpdatedAt: str
    db_version: int
    db_updated_at: str
    lastDBUpdateFailed: bool
    lastVulnOverridesDBUpdateFailed: bool
    replicas: dict[str, ReplicaOut]


class UpdateAccepted(BaseModel):
    model_config = _examples(
        {"message": "The database archive is being imported", "jobId": "5f0c…", "db_version": 3}
    )

    message: str
    jobId: str
    db_version: int = Field(description="The version serving now (the import makes the next)")
