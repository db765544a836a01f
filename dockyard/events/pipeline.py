"""Builders of the image pipeline's events: scan completed or failed, promotion, mirroring and
the scanner update. Their payload shapes are the models in `payloads.py`; the events the registry
and repositories emit today are built in `types.py`. No database or HTTP here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dockyard.clock import rfc3339
from dockyard.events.payloads import (
    MirroringContents,
    MirroringFields,
    PromotionContents,
    PromotionFields,
    ReplicaFields,
    ScanCompletedContents,
    ScanFailedContents,
    ScannerUpdateContents,
    ScanSummaryFields,
)
from dockyard.events.types import (
    Event,
    EventType,
    ImageRef,
    digest_image_name,
    stamp,
    tag_image_name,
    tag_location,
)


@dataclass(frozen=True)
class ScanSummary:
    critical: int
    major: int
    minor: int
    last_scan_status: int
    check_completed_at: datetime | None


def scan_completed_event(host: str, image: ImageRef, summary: ScanSummary, at: datetime) -> Event:
    scan_summary = ScanSummaryFields.wire(
        namespace=image.namespace,
        repository=image.repository,
        tag=image.tag,
        critical=summary.critical,
        major=summary.major,
        minor=summary.minor,
        last_scan_status=summary.last_scan_status,
        check_completed_at=rfc3339(summary.check_completed_at),
    )
    contents = ScanCompletedContents.wire(
        namespace=image.namespace,
        repository=image.repository,
        tag=image.tag,
        imageName=tag_image_name(host, image.namespace, image.repository, image.tag),
        scanSummary=scan_summary,
    )
    return Event(
        EventType.SCAN_COMPLETED,
        at,
        contents,
        tag_location(image.namespace, image.repository, image.tag),
        image.namespace,
        image.repository,
    )


def scan_failed_event(host: str, image: ImageRef, error: str, at: datetime) -> Event:
    contents = ScanFailedContents.wire(
        namespace=image.namespace,
        repository=image.repository,
        tag=image.tag,
        imageName=digest_image_name(host, image.namespace, image.repository, image.digest),
        error=error,
    )
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
    promotion = PromotionFields.wire(
        promotionPolicyID=policy_id,
        sourceRepository=f"{source_namespace}/{source_repository}",
        sourceTag=source_tag,
        targetRepository=f"{target.namespace}/{target.repository}",
        targetTag=target.tag,
    )
    contents = PromotionContents.wire(
        namespace=target.namespace,
        repository=target.repository,
        tag=target.tag,
        digest=target.digest,
        imageName=tag_image_name(host, target.namespace, target.repository, target.tag),
        os=target.os,
        architecture=target.architecture,
        author=author,
        promotedAt=stamp(at),
        promotion=promotion,
    )
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
    mirroring = MirroringFields.wire(
        mirroringPolicyID=policy_id,
        digest=image.digest,
        remoteHost=remote_host,
        remoteRepository=remote_repository,
        remoteTag=remote_tag,
    )
    contents = MirroringContents.wire(
        namespace=image.namespace,
        repository=image.repository,
        tag=image.tag,
        digest=image.digest,
        imageName=tag_image_name(host, image.namespace, image.repository, image.tag),
        os=image.os,
        architecture=image.architecture,
        author=author,
        mirroredAt=stamp(at),
        mirroring=mirroring,
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
    contents = ScannerUpdateContents.wire(
        scanner_version=scanner_version,
        scanner_updated_at=rfc3339(scanner_updated_at),
        db_version=db_version,
        db_updated_at=rfc3339(db_updated_at),
        success=success,
        replicas={
            r.replica_id: ReplicaFields.wire(
                db_updated_at=rfc3339(r.db_updated_at), version=r.version, replica_id=r.replica_id
            )
            for r in replicas
        },
    )
    return Event(EventType.SCANNER_UPDATE_COMPLETED, at, contents, "/", None, None)
