"""The one model of each event payload: a Pydantic model per `contents` shape and the wrapper
`{type, createdAt, contents, location}`.

Everything else about a payload is derived from these classes: the builders (`types.py`,
`pipeline.py`) fill their fields, the JSON Schemas served at `/api/v0/webhooks/schemas/{type}`
are generated from them (`schemas.py`), and the test endpoint's samples are instances of them
(`samples.py`). Field names are the wire names, exactly as the seed document spells them
(camelCase at the top, snake_case inside `scanSummary` and the scanner update), and field order is
the wire order. No event catalog, database or HTTP here: `types.py` maps event types to models.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

# Timestamps stay strings: MSR's are RFC 3339 with any precision (the seed's sample has
# nanoseconds), and the wire text must be exactly what the builder wrote.
Timestamp = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
Digest = Annotated[str, Field(pattern=r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")]


class Contents(BaseModel):
    """A `contents` object; receivers must tolerate fields added later (MSR clips its examples)."""

    # defer_build: validators are built on first use (tests, samples, schemas), not when every
    # process that builds events imports this module.
    model_config = ConfigDict(extra="allow", strict=True, defer_build=True)

    # The model's field names in order: the exact keys, and key order, of the wire object.
    wire_keys: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls.wire_keys = tuple(cls.model_fields)

    @classmethod
    def wire(cls, **fields: Any) -> dict[str, Any]:
        """The wire object of this shape, keyed and ordered by the model, without validation.

        Builders use this rather than `cls(...).model_dump()`: it runs on every push and pull
        and costs a fraction of a validation. It still refuses a missing or unknown field;
        tests validate each builder's output against the model.
        """
        try:
            wire = {name: fields[name] for name in cls.wire_keys}
        except KeyError as missing:
            raise TypeError(f"{cls.__name__}: missing field {missing}") from None
        if len(wire) != len(fields):
            raise TypeError(f"{cls.__name__}: unknown fields {sorted(set(fields) - set(wire))}")
        return wire


class ManifestImage(Contents):
    """The image as manifest events name it: by digest."""

    namespace: str
    repository: str
    digest: Digest
    imageName: str
    os: str
    architecture: str
    author: str


class TagImage(Contents):
    """The image as tag events name it: by tag, with the digest the tag points to."""

    namespace: str
    repository: str
    tag: str
    digest: Digest
    imageName: str
    os: str
    architecture: str
    author: str


class TagPushContents(TagImage):
    pushedAt: Timestamp


class TagPullContents(TagImage):
    pulledAt: Timestamp


class TagDeleteContents(TagImage):
    deletedAt: Timestamp


class ManifestPushContents(ManifestImage):
    pushedAt: Timestamp


class ManifestPullContents(ManifestImage):
    pulledAt: Timestamp


class ManifestDeleteContents(ManifestImage):
    deletedAt: Timestamp


class ScanSummaryFields(Contents):
    """`scanSummary`: snake_case, as MSR ships it."""

    namespace: str
    repository: str
    tag: str
    critical: int
    major: int
    minor: int
    last_scan_status: Annotated[int, Field(ge=0, le=6)]
    check_completed_at: Timestamp


class ScanCompletedContents(Contents):
    namespace: str
    repository: str
    tag: str
    imageName: str
    scanSummary: ScanSummaryFields


class ScanFailedContents(Contents):
    namespace: str
    repository: str
    tag: str
    imageName: str
    error: str


class PromotionFields(Contents):
    promotionPolicyID: str
    sourceRepository: str
    sourceTag: str
    targetRepository: str
    targetTag: str


class PromotionContents(TagImage):
    """The target image's fields, plus where it was promoted from."""

    promotedAt: Timestamp
    promotion: PromotionFields


class MirroringFields(Contents):
    mirroringPolicyID: str
    digest: Digest
    remoteHost: str
    remoteRepository: str
    remoteTag: str


class MirroringContents(TagImage):
    """The local image's fields, plus where it was mirrored to or from."""

    mirroredAt: Timestamp
    mirroring: MirroringFields


class RepoEventContents(Contents):
    namespace: str
    repository: str
    event: Literal["REPO_CREATED", "REPO_UPDATED", "REPO_DELETED"]
    author: str
    # The repository as GET /api/v0/repositories/{namespace}/{repository} shows it; null on delete.
    data: dict[str, Any] | None


class ReplicaFields(Contents):
    db_updated_at: Timestamp
    version: str
    replica_id: str


class ScannerUpdateContents(Contents):
    """SCANNER_UPDATE_COMPLETED: snake_case, as MSR ships it; `replicas` is keyed by replica ID."""

    scanner_version: str
    scanner_updated_at: Timestamp
    db_version: int
    db_updated_at: Timestamp
    success: bool
    replicas: dict[str, ReplicaFields]


ContentsT = TypeVar("ContentsT", bound=Contents)


class Payload(BaseModel, Generic[ContentsT]):
    """The wrapper every event is sent in; `type` names the shape of `contents`."""

    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)

    type: str
    createdAt: Timestamp
    contents: ContentsT
    location: str


def payload_model(contents: type[ContentsT]) -> type[Payload[ContentsT]]:
    """The wrapper around one `contents` model (Pydantic caches each parametrization)."""
    return Payload[contents]  # type: ignore[valid-type]  # the model is chosen at run time
