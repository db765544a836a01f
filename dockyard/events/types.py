"""The 13 MSR event types, their scopes, who may subscribe, the model of each one's payload,
and the builders of the events the registry and repositories emit (the image pipeline's are in
`pipeline.py`).

Payload shapes live only in `payloads.py`: builders fill a model's fields through `wire`, which
keys and orders them as the model does. No database or HTTP here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from dockyard.clock import rfc3339
from dockyard.events.payloads import (
    Contents,
    ManifestDeleteContents,
    ManifestPullContents,
    ManifestPushContents,
    MirroringContents,
    PromotionContents,
    RepoEventContents,
    ScanCompletedContents,
    ScanFailedContents,
    ScannerUpdateContents,
    TagDeleteContents,
    TagPullContents,
    TagPushContents,
)


class EventType(StrEnum):
    TAG_PUSH = "TAG_PUSH"
    TAG_PULL = "TAG_PULL"
    TAG_DELETE = "TAG_DELETE"
    MANIFEST_PUSH = "MANIFEST_PUSH"
    MANIFEST_PULL = "MANIFEST_PULL"
    MANIFEST_DELETE = "MANIFEST_DELETE"
    SCAN_COMPLETED = "SCAN_COMPLETED"
    SCAN_FAILED = "SCAN_FAILED"
    PROMOTION = "PROMOTION"
    PUSH_MIRRORING = "PUSH_MIRRORING"
    POLL_MIRRORING = "POLL_MIRRORING"
    REPO_EVENT = "REPO_EVENT"
    SCANNER_UPDATE_COMPLETED = "SCANNER_UPDATE_COMPLETED"


class Scope(StrEnum):
    REPOSITORY = "repository"
    NAMESPACE = "namespace"
    GLOBAL = "global"


class RepoEventKind(StrEnum):
    REPO_CREATED = "REPO_CREATED"
    REPO_UPDATED = "REPO_UPDATED"
    REPO_DELETED = "REPO_DELETED"


@dataclass(frozen=True)
class EventTypeInfo:
    type: EventType
    scope: Scope
    label: str  # what the web UI shows in the drop-down, as in MSR's table


EVENT_TYPES: dict[EventType, EventTypeInfo] = {
    info.type: info
    for info in (
        EventTypeInfo(EventType.TAG_PUSH, Scope.REPOSITORY, "Tag pushed to repository"),
        EventTypeInfo(EventType.TAG_PULL, Scope.REPOSITORY, "Tag pulled from repository"),
        EventTypeInfo(EventType.TAG_DELETE, Scope.REPOSITORY, "Tag deleted from repository"),
        EventTypeInfo(EventType.MANIFEST_PUSH, Scope.REPOSITORY, "Manifest pushed to repository"),
        EventTypeInfo(EventType.MANIFEST_PULL, Scope.REPOSITORY, "Manifest pulled from repository"),
        EventTypeInfo(
            EventType.MANIFEST_DELETE, Scope.REPOSITORY, "Manifest deleted from repository"
        ),
        EventTypeInfo(EventType.SCAN_COMPLETED, Scope.REPOSITORY, "Security scan completed"),
        EventTypeInfo(EventType.SCAN_FAILED, Scope.REPOSITORY, "Security scan failed"),
        EventTypeInfo(EventType.PROMOTION, Scope.REPOSITORY, "Image promoted from repository"),
        EventTypeInfo(EventType.PUSH_MIRRORING, Scope.REPOSITORY, "Image mirrored from repository"),
        EventTypeInfo(
            EventType.POLL_MIRRORING,
            Scope.REPOSITORY,
            "Image mirrored from remote repository",
        ),
        EventTypeInfo(
            EventType.REPO_EVENT,
            Scope.NAMESPACE,
            "Repository created, updated, or deleted",
        ),
        EventTypeInfo(
            EventType.SCANNER_UPDATE_COMPLETED,
            Scope.GLOBAL,
            "Security scanner update complete",
        ),
    )
}

# Subscription aliases (msr-api.md Part A 1): a REPO_EVENT subscription filtered to one kind.
REPO_EVENT_ALIASES: dict[str, RepoEventKind] = {kind.value: kind for kind in RepoEventKind}


# `rfc3339` of an instant, remembered: a push or a pull stamps the same instant four times (the
# tag and the manifest event, each in `createdAt` and in its contents) on the hot path.
stamp = functools.lru_cache(maxsize=256)(rfc3339)


@dataclass(frozen=True)
class ImageRef:
    """What an event says about an image: where it lives and what it is."""

    namespace: str
    repository: str
    digest: str
    os: str = ""
    architecture: str = ""
    tag: str = ""


@dataclass(frozen=True)
class Event:
    """A built event, ready for the outbox."""

    type: EventType
    created_at: datetime
    contents: dict[str, Any]
    location: str
    namespace: str | None
    repository: str | None
    actor: str = ""

    def payload(self) -> dict[str, Any]:
        """The wire payload: the fields of `payloads.Payload`, in its order (tested)."""
        return {
            "type": self.type.value,
            "createdAt": stamp(self.created_at),
            "contents": self.contents,
            "location": self.location,
        }

    @property
    def repository_key(self) -> str | None:
        if self.namespace is None or self.repository is None:
            return None
        return f"{self.namespace}/{self.repository}"


def repo_location(namespace: str, repository: str) -> str:
    return f"/repositories/{namespace}/{repository}"


def tag_location(namespace: str, repository: str, tag: str) -> str:
    return f"/repositories/{namespace}/{repository}/tags/{tag}"


def tag_image_name(host: str, namespace: str, repository: str, tag: str) -> str:
    return f"{host}/{namespace}/{repository}:{tag}"


def digest_image_name(host: str, namespace: str, repository: str, digest: str) -> str:
    return f"{host}/{namespace}/{repository}@{digest}"


# The model of each type's `contents` (`payloads.py`): what builders fill, schemas describe and
# samples instantiate.
PAYLOAD_CONTENTS: dict[EventType, type[Contents]] = {
    EventType.TAG_PUSH: TagPushContents,
    EventType.TAG_PULL: TagPullContents,
    EventType.TAG_DELETE: TagDeleteContents,
    EventType.MANIFEST_PUSH: ManifestPushContents,
    EventType.MANIFEST_PULL: ManifestPullContents,
    EventType.MANIFEST_DELETE: ManifestDeleteContents,
    EventType.SCAN_COMPLETED: ScanCompletedContents,
    EventType.SCAN_FAILED: ScanFailedContents,
    EventType.PROMOTION: PromotionContents,
    EventType.PUSH_MIRRORING: MirroringContents,
    EventType.POLL_MIRRORING: MirroringContents,
    EventType.REPO_EVENT: RepoEventContents,
    EventType.SCANNER_UPDATE_COMPLETED: ScannerUpdateContents,
}

_TIME_FIELD = {
    EventType.TAG_PUSH: "pushedAt",
    EventType.TAG_PULL: "pulledAt",
    EventType.TAG_DELETE: "deletedAt",
    EventType.MANIFEST_PUSH: "pushedAt",
    EventType.MANIFEST_PULL: "pulledAt",
    EventType.MANIFEST_DELETE: "deletedAt",
}


def tag_event(
    event_type: EventType, host: str, image: ImageRef, author: str, at: datetime
) -> Event:
    """TAG_PUSH, TAG_PULL or TAG_DELETE: the tag form of the image name."""
    contents = PAYLOAD_CONTENTS[event_type].wire(
        namespace=image.namespace,
        repository=image.repository,
        tag=image.tag,
        digest=image.digest,
        imageName=tag_image_name(host, image.namespace, image.repository, image.tag),
        os=image.os,
        architecture=image.architecture,
        author=author,
        **{_TIME_FIELD[event_type]: stamp(at)},
    )
    return Event(
        event_type,
        at,
        contents,
        tag_location(image.namespace, image.repository, image.tag),
        image.namespace,
        image.repository,
        author,
    )


def manifest_event(
    event_type: EventType, host: str, image: ImageRef, author: str, at: datetime
) -> Event:
    """MANIFEST_PUSH, MANIFEST_PULL or MANIFEST_DELETE: the digest form of the image name."""
    contents = PAYLOAD_CONTENTS[event_type].wire(
        namespace=image.namespace,
        repository=image.repository,
        digest=image.digest,
        imageName=digest_image_name(host, image.namespace, image.repository, image.digest),
        os=image.os,
        architecture=image.architecture,
        author=author,
        **{_TIME_FIELD[event_type]: stamp(at)},
    )
    return Event(
        event_type,
        at,
        contents,
        repo_location(image.namespace, image.repository),
        image.namespace,
        image.repository,
        author,
    )


def repo_event(
    kind: RepoEventKind,
    namespace: str,
    repository: str,
    author: str,
    data: dict[str, Any] | None,
    at: datetime,
) -> Event:
    """REPO_EVENT; `data` is the repository as GET /api/v0/repositories/{ns}/{repo} shows it,
    or None for a delete."""
    contents = RepoEventContents.wire(
        namespace=namespace,
        repository=repository,
        event=kind.value,
        author=author,
        data=data if kind is not RepoEventKind.REPO_DELETED else None,
    )
    return Event(
        EventType.REPO_EVENT,
        at,
        contents,
        repo_location(namespace, repository),
        namespace,
        repository,
        author,
    )
