"""Wire shapes of the repositories API (MSR `forms.CreateRepo`, `forms.UpdateRepo`,
`forms.Access`, `responses.ListTag`/`Tag`/`Manifest`).

Only `name` is required on create: real clients send partial bodies (Harbor, Terraform, demo
scripts). Forms are strict about types and ignore unknown fields.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Form(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class CreateRepo(Form):
    name: str = Field(min_length=1, max_length=255)
    shortDescription: str = Field(default="", max_length=140)
    longDescription: str = Field(default="", max_length=100_000)
    visibility: str = "private"
    scanOnPush: bool = False
    immutableTags: bool = False
    enableManifestLists: bool = True
    tagLimit: int = Field(default=0, ge=0, le=1_000_000)


class UpdateRepo(Form):
    # Present only to refuse it: MSR repositories cannot be renamed.
    name: str | None = None
    shortDescription: str | None = Field(default=None, max_length=140)
    longDescription: str | None = Field(default=None, max_length=100_000)
    visibility: str | None = None
    scanOnPush: bool | None = None
    immutableTags: bool | None = None
    enableManifestLists: bool | None = None
    tagLimit: int | None = Field(default=None, ge=0, le=1_000_000)


class Access(Form):
    accessLevel: str
