"""The fixed example payload of each event type, sent by `POST /api/v0/webhooks/test`.

"The example payload sent is always the same" (MSR). TAG_PUSH is the seed document's example
byte for byte (including its nanosecond `createdAt` and host-less `imageName`); the others
follow the same image and the same conventions.
"""

from __future__ import annotations

import copy
from typing import Any

from dockyard.events.types import EventType

_DIGEST = "sha256:b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b878ae4944c"
_CREATED = "2019-05-15T19:39:40.607337713Z"
_AT = "2015-01-02T15:04:05Z"
_TAG_LOCATION = "/repositories/foo/bar/tags/latest"
_REPO_LOCATION = "/repositories/foo/bar"


def _image(time_field: str) -> dict[str, Any]:
    return {
        "namespace": "foo",
        "repository": "bar",
        "tag": "latest",
        "digest": _DIGEST,
        "imageName": "foo/bar:latest",
        "os": "linux",
        "architecture": "amd64",
        "author": "",
        time_field: _AT,
    }


def _manifest(time_field: str) -> dict[str, Any]:
    return {
        "namespace": "foo",
        "repository": "bar",
        "digest": _DIGEST,
        "imageName": f"foo/bar@{_DIGEST}",
        "os": "linux",
        "architecture": "amd64",
        "author": "",
        time_field: _AT,
    }


def _mirroring() -> dict[str, Any]:
    contents = _image("mirroredAt")
    contents["mirroring"] = {
        "mirroringPolicyID": "00000000-0000-0000-0000-000000000000",
        "digest": _DIGEST,
        "remoteHost": "https://registry.example.com",
        "remoteRepository": "foo/bar",
        "remoteTag": "latest",
    }
    return contents


def _promotion() -> dict[str, Any]:
    contents = _image("promotedAt")
    contents["repository"] = "bar-prod"
    contents["imageName"] = "foo/bar-prod:latest"
    contents["promotion"] = {
        "promotionPolicyID": "00000000-0000-0000-0000-000000000000",
        "sourceRepository": "foo/bar",
        "sourceTag": "latest",
        "targetRepository": "foo/bar-prod",
        "targetTag": "latest",
    }
    return contents


_CONTENTS: dict[EventType, tuple[dict[str, Any], str]] = {
    EventType.TAG_PUSH: (_image("pushedAt"), _TAG_LOCATION),
    EventType.TAG_PULL: (_image("pulledAt"), _TAG_LOCATION),
    EventType.TAG_DELETE: (_image("deletedAt"), _TAG_LOCATION),
    EventType.MANIFEST_PUSH: (_manifest("pushedAt"), _REPO_LOCATION),
    EventType.MANIFEST_PULL: (_manifest("pulledAt"), _REPO_LOCATION),
    EventType.MANIFEST_DELETE: (_manifest("deletedAt"), _REPO_LOCATION),
    EventType.SCAN_COMPLETED: (
        {
            "namespace": "foo",
            "repository": "bar",
            "tag": "latest",
            "imageName": "foo/bar:latest",
            "scanSummary": {
                "namespace": "foo",
                "repository": "bar",
                "tag": "latest",
                "critical": 0,
                "major": 1,
                "minor": 2,
                "last_scan_status": 6,
                "check_completed_at": _AT,
            },
        },
        _TAG_LOCATION,
    ),
    EventType.SCAN_FAILED: (
        {
            "namespace": "foo",
            "repository": "bar",
            "tag": "latest",
            "imageName": f"foo/bar@{_DIGEST}",
            "error": "example error: the scanner could not read a layer",
        },
        _TAG_LOCATION,
    ),
    EventType.PROMOTION: (_promotion(), "/repositories/foo/bar-prod/tags/latest"),
    EventType.PUSH_MIRRORING: (_mirroring(), _TAG_LOCATION),
    EventType.POLL_MIRRORING: (_mirroring(), _TAG_LOCATION),
    EventType.REPO_EVENT: (
        {
            "namespace": "foo",
            "repository": "bar",
            "event": "REPO_CREATED",
            "author": "",
            "data": {
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
            },
        },
        _REPO_LOCATION,
    ),
    EventType.SCANNER_UPDATE_COMPLETED: (
        {
            "scanner_version": "1.0.0",
            "scanner_updated_at": _AT,
            "db_version": 1,
            "db_updated_at": _AT,
            "success": True,
            "replicas": {
                "000000000001": {
                    "db_updated_at": _AT,
                    "version": "1.0.0",
                    "replica_id": "000000000001",
                }
            },
        },
        "/",
    ),
}


def sample_payload(event_type: EventType) -> dict[str, Any]:
    """A fresh copy of the fixed example payload (wrapper included) for `event_type`."""
    contents, location = _CONTENTS[event_type]
    return {
        "type": event_type.value,
        "createdAt": _CREATED,
        "contents": copy.deepcopy(contents),
        "location": location,
    }
