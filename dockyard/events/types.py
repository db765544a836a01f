"""The 13 MSR event types, their scopes, who may subscribe, and the payload builders.

Contents follow the seed document field by field (camelCase at the top, snake_case inside
`scanSummary` and the scanner update, as MSR ships them). No database or HTTP here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from dockyard.clock import rfc3339


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
        return {
            "type": self.type.value,
            "createdAt": rfc3339(self.created_at),
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


_TAG_TIME_FIELD = {
    EventType.TAG_PUSH: "pushedAt",
    EventType.TAG_PULL: "pulledAt",
    EventType.TAG_DELETE: "deletedAt",
}
_MANIFEST_TIME_FIELD = {
    EventType.MANIFEST_PUSH: "pushedAt",
    EventType.MANIFEST_PULL: "pulledAt",
    EventType.MANIFEST_DELETE: "deletedAt",
}


def tag_event(
    event_type: EventType, host: str, image: ImageRef, author: str, at: datetime
) -> Event:
    """TAG_PUSH, TAG_PULL or TAG_DELETE: the tag form of the image name."""
    contents: dict[str, Any] = {
        "namespace": image.namespace,
        "repository": image.repository,
        "tag": image.tag,
        "digest": image.digest,
        "imageName": tag_image_name(host, image.namespace, image.repository, image.tag),
        "os": image.os,
        "architecture": image.architecture,
        "author": author,
        _TAG_TIME_FIELD[event_type]: rfc3339(at),
    }
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
    contents: dict[str, Any] = {
        "namespace": image.namespace,
        "repository": image.repository,
        "digest": image.digest,
        "imageName": digest_image_name(host, image.namespace, image.repository, image.digest),
        "os": image.os,
        "architecture": image.architecture,
        "author": author,
        _MANIFEST_TIME_FIELD[event_type]: rfc3339(at),
    }
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
    contents = {
        "namespace": namespace,
        "repository": repository,
        "event": kind.value,
        "author": author,
        "data": data if kind is not RepoEventKind.REPO_DELETED else None,
    }
    return Event(
        EventType.REPO_EVENT,
        at,
        contents,
        repo_location(namespace, repository),
        namespace,
        repository,
        author,
    )


@dataclass(frozen=True)
class ScanSummary:
    critical: int
    major: int
    minor: int
    last_scan_status: int
    check_completed_at: datetime | None


def scan_completed_event(host: str, image: ImageRef, summary: ScanSummary, at: datetime) -> Event:
    contents = {
        "namespace": image.namespace,
        "repository": image.repository,
        "tag": image.tag,
        "imageName": tag_image_name(host, image.namespace, image.repository, image.tag),
        "scanSummary": {
            "namespace": image.namespace,
            "repository": image.repository,
            "tag": image.tag,
            "critical": summary.critical,
            "major": summary.major,
            "minor": summary.minor,
            "last_scan_status": summary.last_scan_status,
            "check_completed_at": rfc3339(summary.check_completed_at),
        },
    }
    return Event(
        EventType.SCAN_COMPLETED,
        at,
        contents,
        tag_location(image.namespace, image.repository, image.tag),
        image.namespace,
        image.repository,
    )


def scan_failed_event(host: str, image: ImageRef, error: str, at: datetime) -> Event:
    contents = {
        "namespace": image.namespace,
        "repository": image.repository,
        "tag": image.tag,
        "imageName": digest_image_name(host, image.namespace, image.repository, image.digest),
        "error": error,
    }
    return Event(
        EventType.SCAN_FAILED,
        at,
        contents,
        tag_location(image.namespace, image.repository, image.tag),
        image.namespace,
        image.repository,
    )


def promotion_event(
    host: str,
    source_namespace: str,
    source_repository: str,
    source_tag: str,
    target: ImageRef,
    policy_id: str,
    author: str,
    at: datetime,
) -> Event:
    """PROMOTION: the target image's fields; keyed (and located) on the source repository."""
    contents = {
        "namespace": target.namespace,
        "repository": target.repository,
        "tag": target.tag,
        "digest": target.digest,
        "imageName": tag_image_name(host, target.namespace, target.repository, target.tag),
        "os": target.os,
        "architecture": target.architecture,
        "author": author,
        "promotedAt": rfc3339(at),
        "promotion": {
            "promotionPolicyID": policy_id,
            "sourceRepository": f"{source_namespace}/{source_repository}",
            "sourceTag": source_tag,
            "targetRepository": f"{target.namespace}/{target.repository}",
            "targetTag": target.tag,
        },
    }
    return Event(
        EventType.PROMOTION,
        at,
        contents,
        tag_location(target.namespace, target.repository, target.tag),
        source_namespace,
        source_repository,
        author,
    )


def mirroring_event(
    event_type: EventType,
    host: str,
    image: ImageRef,
    policy_id: str,
    remote_host: str,
    remote_repository: str,
    remote_tag: str,
    author: str,
    at: datetime,
) -> Event:
    """PUSH_MIRRORING or POLL_MIRRORING: the local image plus where it went or came from."""
    if event_type not in (EventType.PUSH_MIRRORING, EventType.POLL_MIRRORING):
        raise ValueError(f"not a mirroring event: {event_type}")
    contents = {
        "namespace": image.namespace,
        "repository": image.repository,
        "tag": image.tag,
        "digest": image.digest,
        "imageName": tag_image_name(host, image.namespace, image.repository, image.tag),
        "os": image.os,
        "architecture": image.architecture,
        "author": author,
        "mirroredAt": rfc3339(at),
        "mirroring": {
            "mirroringPolicyID": policy_id,
            "digest": image.digest,
            "remoteHost": remote_host,
            "remoteRepository": remote_repository,
            "remoteTag": remote_tag,
        },
    }
    return Event(
        event_type,
        at,
        contents,
        tag_location(image.namespace, image.repository, image.tag),
        image.namespace,
        image.repository,
        author,
    )


@dataclass(frozen=True)
class ReplicaUpdate:
    replica_id: str
    version: str
    db_updated_at: datetime | None


def scanner_update_event(
    scanner_version: str,
    scanner_updated_at: datetime | None,
    db_version: int,
    db_updated_at: datetime | None,
    success: bool,
    replicas: list[ReplicaUpdate],
    at: datetime,
) -> Event:
    contents = {
        "scanner_version": scanner_version,
        "scanner_updated_at": rfc3339(scanner_updated_at),
        "db_version": db_version,
        "db_updated_at": rfc3339(db_updated_at),
        "success": success,
        "replicas": {
            r.replica_id: {
                "db_updated_at": rfc3339(r.db_updated_at),
                "version": r.version,
                "replica_id": r.replica_id,
            }
            for r in replicas
        },
    }
    return Event(EventType.SCANNER_UPDATE_COMPLETED, at, contents, "/", None, None)
