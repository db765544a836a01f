"""The fixed example payload of each event type, sent by `POST /api/v0/webhooks/test` and shown
as the example of each served JSON Schema: instances of the payload models (`payloads.py`), so
they are validated when this module loads.

"The example payload sent is always the same" (MSR). TAG_PUSH is the seed document's example
byte for byte (including its nanosecond `createdAt` and host-less `imageName`); the others
follow the same image and the same conventions.
"""

from __future__ import annotations

from typing import Any

from dockyard.events.payloads import (
    Contents,
    ManifestDeleteContents,
    ManifestPullContents,
    ManifestPushContents,
    MirroringContents,
    MirroringFields,
    Payload,
    PromotionContents,
    PromotionFields,
    ReplicaFields,
    RepoEventContents,
    ScanCompletedContents,
    ScanFailedContents,
    ScannerUpdateContents,
    ScanSummaryFields,
    TagDeleteContents,
    TagPullContents,
    TagPushContents,
    payload_model,
)
from dockyard.events.types import PAYLOAD_CONTENTS, EventType

_DIGEST = "sha256:b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b878ae4944c"
_CREATED = "2019-05-15T19:39:40.607337713Z"
_AT = "2015-01-02T15:04:05Z"
_POLICY_ID = "00000000-0000-0000-0000-000000000000"
_TAG_LOCATION = "/repositories/foo/bar/tags/latest"
_REPO_LOCATION = "/repositories/foo/bar"

_REPO = {"namespace": "foo", "repository": "bar"}
_IMAGE = {"digest": _DIGEST, "os": "linux", "architecture": "amd64", "author": ""}
_TAG = {**_REPO, "tag": "latest", "imageName": "foo/bar:latest", **_IMAGE}
_MANIFEST = {**_REPO, "imageName": f"foo/bar@{_DIGEST}", **_IMAGE}

_MIRRORING = MirroringContents(
    **_TAG,
    mirroredAt=_AT,
    mirroring=MirroringFields(
        mirroringPolicyID=_POLICY_ID,
        digest=_DIGEST,
        remoteHost="https://registry.example.com",
        remoteRepository="foo/bar",
        remoteTag="latest",
    ),
)

_REPOSITORY = {
    "id": "00000000-0000-0000-0000-000000000000",
    "namespace": "foo",
    "namespaceType": "user",
    "name": "bar",
    "shortDescription": "",
    "longDescription": "",
    "visibility": "private",
    "scanOnPush": False,
    "immutableTags": False,
    "enableManifestLists": True,
    "pulls": 0,
    "pushes": 0,
    "tagLimit": 0,
}

_CONTENTS: dict[EventType, tuple[Contents, str]] = {
    EventType.TAG_PUSH: (TagPushContents(**_TAG, pushedAt=_AT), _TAG_LOCATION),
    EventType.TAG_PULL: (TagPullContents(**_TAG, pulledAt=_AT), _TAG_LOCATION),
    EventType.TAG_DELETE: (TagDeleteContents(**_TAG, deletedAt=_AT), _TAG_LOCATION),
    EventType.MANIFEST_PUSH: (ManifestPushContents(**_MANIFEST, pushedAt=_AT), _REPO_LOCATION),
    EventType.MANIFEST_PULL: (ManifestPullContents(**_MANIFEST, pulledAt=_AT), _REPO_LOCATION),
    EventType.MANIFEST_DELETE: (
        ManifestDeleteContents(**_MANIFEST, deletedAt=_AT),
        _REPO_LOCATION,
    ),
    EventType.SCAN_COMPLETED: (
        ScanCompletedContents(
            **_REPO,
            tag="latest",
            imageName="foo/bar:latest",
            scanSummary=ScanSummaryFields(
                **_REPO,
                tag="latest",
                critical=0,
                major=1,
                minor=2,
                last_scan_status=6,
                check_completed_at=_AT,
            ),
        ),
        _TAG_LOCATION,
    ),
    EventType.SCAN_FAILED: (
        ScanFailedContents(
            **_REPO,
            tag="latest",
            imageName=f"foo/bar@{_DIGEST}",
            error="example error: the scanner could not read a layer",
        ),
        _TAG_LOCATION,
    ),
    EventType.PROMOTION: (
        PromotionContents(
            **(_TAG | {"repository": "bar-prod", "imageName": "foo/bar-prod:latest"}),
            promotedAt=_AT,
            promotion=PromotionFields(
                promotionPolicyID=_POLICY_ID,
                sourceRepository="foo/bar",
                sourceTag="latest",
                targetRepository="foo/bar-prod",
                targetTag="latest",
            ),
        ),
        "/repositories/foo/bar-prod/tags/latest",
    ),
    EventType.PUSH_MIRRORING: (_MIRRORING, _TAG_LOCATION),
    EventType.POLL_MIRRORING: (_MIRRORING, _TAG_LOCATION),
    EventType.REPO_EVENT: (
        RepoEventContents(**_REPO, event="REPO_CREATED", author="", data=_REPOSITORY),
        _REPO_LOCATION,
    ),
    EventType.SCANNER_UPDATE_COMPLETED: (
        ScannerUpdateContents(
            scanner_version="1.0.0",
            scanner_updated_at=_AT,
            db_version=1,
            db_updated_at=_AT,
            success=True,
            replicas={
                "000000000001": ReplicaFields(
                    db_updated_at=_AT, version="1.0.0", replica_id="000000000001"
                )
            },
        ),
        "/",
    ),
}

SAMPLES: dict[EventType, Payload[Any]] = {
    # Parametrized with the type's model: a sample of the wrong shape fails when this loads.
    event_type: payload_model(PAYLOAD_CONTENTS[event_type])(
        type=event_type.value, createdAt=_CREATED, contents=contents, location=location
    )
    for event_type, (contents, location) in _CONTENTS.items()
}


def sample_payload(event_type: EventType) -> dict[str, Any]:
    """A fresh copy of the fixed example payload (wrapper included) for `event_type`."""
    return SAMPLES[event_type].model_dump(mode="json")
