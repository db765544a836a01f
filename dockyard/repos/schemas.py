"""Wire shapes of the repositories API, in and out: MSR's `forms.CreateRepo`, `forms.UpdateRepo`,
`forms.Access` in; `responses.Repository`, `responses.ListTag`/`Tag`/`Manifest` and the team
access grants out (field names are MSR's camelCase, a contract).

Only `name` is required on create: real clients send partial bodies (Harbor, Terraform, demo
scripts). Forms are strict about types and ignore unknown fields. No HTTP, no database here.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, JsonValue

_REPO_EXAMPLE: dict[str, JsonValue] = {
    "id": "6b6bd3c2-3f1e-4a0e-9a49-2f2f1f0c8a11",
    "namespace": "acme",
    "namespaceType": "organization",
    "name": "app",
    "shortDescription": "The shop's web application",
    "longDescription": "",
    "visibility": "private",
    "scanOnPush": True,
    "immutableTags": False,
    "enableManifestLists": True,
    "pulls": 12,
    "pushes": 3,
    "tagLimit": 0,
    "createdAt": "2026-01-05T10:00:00.000Z",
    "updatedAt": "2026-01-05T10:00:00.000Z",
    "lastPushedAt": "2026-01-06T09:30:00.000Z",
}
_TEAM_EXAMPLE: dict[str, JsonValue] = {
    "id": "5f0c1f2e-0000-4000-8000-000000000001",
    "name": "developers",
    "description": "",
    "orgID": "5f0c1f2e-0000-4000-8000-000000000000",
    "membersCount": 0,
}
_MANIFEST_EXAMPLE: dict[str, JsonValue] = {
    "digest": "sha256:" + "a" * 64,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "configMediaType": "application/vnd.oci.image.config.v1+json",
    "configDigest": "sha256:" + "b" * 64,
    "size": 2811,
    "createdAt": "2026-01-06T09:30:00.000Z",
    "author": "alice",
    "os": "linux",
    "osVersion": "",
    "architecture": "amd64",
    "dockerfile": [],
}
_TAG_EXAMPLE: dict[str, JsonValue] = {
    "name": "latest",
    "digest": "sha256:" + "a" * 64,
    "author": "alice",
    "createdAt": "2026-01-06T09:30:00.000Z",
    "updatedAt": "2026-01-06T09:30:00.000Z",
    "hashMismatch": False,
    "inNotary": False,
    "manifest": _MANIFEST_EXAMPLE,
}


# The values the service accepts, as the OpenAPI document's `enum` (documentation only: the
# service's own checks answer a bad value with MSR's specific code, e.g.
# INVALID_REPOSITORY_VISIBILITY, which a Literal here would turn into INVALID_PARAMETERS).
_VISIBILITIES: list[JsonValue] = ["public", "private"]
_ACCESS_LEVELS: list[JsonValue] = ["read-only", "read-write", "admin"]


def _one_of(values: list[JsonValue], *, nullable: bool = False) -> dict[str, JsonValue]:
    return {"enum": [*values, None] if nullable else values}


def _examples(*examples: JsonValue) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)})


class Form(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class CreateRepo(Form):
    model_config = ConfigDict(
        strict=True,
        extra="ignore",
        json_schema_extra={
            "examples": [{"name": "app", "visibility": "private", "shortDescription": "Web app"}]
        },
    )

    name: str = Field(min_length=1, max_length=255)
    shortDescription: str = Field(default="", max_length=140)
    longDescription: str = Field(default="", max_length=100_000)
    visibility: str = Field(default="private", json_schema_extra=_one_of(_VISIBILITIES))
    # MSR's default mode for a new repository: "scan on push & scan manually".
    scanOnPush: bool = True
    immutableTags: bool = False
    enableManifestLists: bool = True
    tagLimit: int = Field(default=0, ge=0, le=1_000_000)


class UpdateRepo(Form):
    model_config = ConfigDict(
        strict=True,
        extra="ignore",
        json_schema_extra={"examples": [{"visibility": "public", "immutableTags": True}]},
    )

    # Present only to refuse it: MSR repositories cannot be renamed.
    name: str | None = None
    shortDescription: str | None = Field(default=None, max_length=140)
    longDescription: str | None = Field(default=None, max_length=100_000)
    visibility: str | None = Field(
        default=None, json_schema_extra=_one_of(_VISIBILITIES, nullable=True)
    )
    scanOnPush: bool | None = None
    immutableTags: bool | None = None
    enableManifestLists: bool | None = None
    tagLimit: int | None = Field(default=None, ge=0, le=1_000_000)


class Access(Form):
    model_config = ConfigDict(
        strict=True, extra="ignore", json_schema_extra={"examples": [{"accessLevel": "read-write"}]}
    )

    accessLevel: str = Field(
        description="read-only, read-write or admin", json_schema_extra=_one_of(_ACCESS_LEVELS)
    )


class RepositoryOut(BaseModel):
    """MSR's responses.Repository, plus dockyard's counters and timestamps."""

    model_config = _examples(_REPO_EXAMPLE)

    id: str
    namespace: str
    namespaceType: str = Field(
        description="organization or user",
        json_schema_extra=_one_of(["organization", "user"]),
    )
    name: str
    shortDescription: str
    longDescription: str
    visibility: str = Field(json_schema_extra=_one_of(_VISIBILITIES))
    scanOnPush: bool
    immutableTags: bool
    enableManifestLists: bool
    pulls: int
    pushes: int
    tagLimit: int
    createdAt: str
    updatedAt: str
    lastPushedAt: str


class RepositoryList(BaseModel):
    model_config = _examples({"repositories": [_REPO_EXAMPLE]})

    repositories: list[RepositoryOut]


class Layer(BaseModel):
    line: str
    layerDigest: str
    size: int
    isEmpty: bool
    mediaType: str
    urls: list[str]


class ManifestOut(BaseModel):
    """MSR's responses.Manifest (`dockerfile` lists the layers with their sizes)."""

    model_config = _examples(_MANIFEST_EXAMPLE)

    digest: str
    mediaType: str
    configMediaType: str
    configDigest: str
    size: int
    createdAt: str
    author: str
    os: str
    osVersion: str
    architecture: str
    dockerfile: list[Layer]


class ManifestRef(BaseModel):
    """A tag whose manifest is not stored (yet): only its digest is known."""

    digest: str


class VulnSummary(BaseModel):
    """MSR's OldScanSummary counts on a tag (the scanner's result; `last_scan_status` 0-6)."""

    critical: int
    major: int
    minor: int
    last_scan_status: int
    check_completed_at: str


class TagOut(BaseModel):
    """MSR's responses.ListTag / responses.Tag."""

    model_config = _examples(_TAG_EXAMPLE)

    name: str
    digest: str
    author: str
    createdAt: str
    updatedAt: str
    hashMismatch: bool
    inNotary: bool
    manifest: ManifestOut | ManifestRef
    vuln_summary: VulnSummary | None = None


class TeamOut(BaseModel):
    model_config = _examples(_TEAM_EXAMPLE)

    id: str
    name: str
    description: str
    orgID: str
    membersCount: int


class TeamAccessOut(BaseModel):
    model_config = _examples({"accessLevel": "read-write", "team": _TEAM_EXAMPLE})

    accessLevel: str = Field(json_schema_extra=_one_of(_ACCESS_LEVELS))
    team: TeamOut


class RepositoryTeamAccessOut(TeamAccessOut):
    model_config = _examples(
        {"accessLevel": "read-write", "team": _TEAM_EXAMPLE, "repository": _REPO_EXAMPLE}
    )

    repository: RepositoryOut


class RepositoryTeamAccessList(BaseModel):
    model_config = _examples(
        {
            "repository": _REPO_EXAMPLE,
            "teamAccessList": [{"accessLevel": "read-write", "team": _TEAM_EXAMPLE}],
        }
    )

    repository: RepositoryOut
    teamAccessList: list[TeamAccessOut]


class NamespaceTeamAccessOut(TeamAccessOut):
    model_config = _examples({"accessLevel": "admin", "team": _TEAM_EXAMPLE, "namespace": "acme"})

    namespace: str


class NamespaceTeamAccessList(BaseModel):
    model_config = _examples(
        {
            "namespace": "acme",
            "teamAccessList": [
                {"accessLevel": "admin", "team": _TEAM_EXAMPLE, "namespace": "acme"}
            ],
        }
    )

    namespace: str
    teamAccessList: list[NamespaceTeamAccessOut]
