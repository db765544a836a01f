"""Every builder and every sample validates against its JSON Schema; builders emit exactly
the schema's fields; TAG_PUSH's sample is the seed's example."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest

from dockyard.events.pipeline import (
    ReplicaUpdate,
    ScanSummary,
    mirroring_event,
    promotion_event,
    scan_completed_event,
    scan_failed_event,
    scanner_update_event,
)
from dockyard.events.samples import sample_payload
from dockyard.events.schemas import event_schema
from dockyard.events.types import (
    EventType,
    ImageRef,
    RepoEventKind,
    manifest_event,
    repo_event,
    tag_event,
)

AT = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
IMG = ImageRef("foo", "bar", "sha256:" + "ab" * 32, "linux", "amd64", "v1")
HOST = "reg.example.com:5000"


def built() -> dict[EventType, dict[str, Any]]:
    events = [
        *(
            tag_event(t, HOST, IMG, "alice", AT)
            for t in (EventType.TAG_PUSH, EventType.TAG_PULL, EventType.TAG_DELETE)
        ),
        *(
            manifest_event(t, HOST, IMG, "alice", AT)
            for t in (EventType.MANIFEST_PUSH, EventType.MANIFEST_PULL, EventType.MANIFEST_DELETE)
        ),
        scan_completed_event(HOST, IMG, ScanSummary(1, 2, 3, 6, AT), AT),
        scan_failed_event(HOST, IMG, "boom", AT),
        promotion_event(HOST, "foo", "src", "v0", IMG, "pol", "alice", AT),
        mirroring_event(EventType.PUSH_MIRRORING, HOST, IMG, "p", "r.io", "x/y", "v1", "a", AT),
        mirroring_event(EventType.POLL_MIRRORING, HOST, IMG, "p", "r.io", "x/y", "v1", "a", AT),
        repo_event(RepoEventKind.REPO_CREATED, "foo", "bar", "alice", {"name": "bar"}, AT),
        scanner_update_event("1.2", AT, 7, AT, True, [ReplicaUpdate("r1", "1.2", AT)], AT),
    ]
    return {e.type: e.payload() for e in events}


@pytest.mark.parametrize("event_type", list(EventType))
def test_builder_and_sample_match_schema(event_type: EventType) -> None:
    schema = event_schema(event_type)
    validator = jsonschema.Draft202012Validator(schema)
    payload = built()[event_type]
    validator.validate(payload)
    validator.validate(sample_payload(event_type))
    # builders send exactly the documented fields, no more, no fewer
    assert set(payload["contents"]) == set(schema["properties"]["contents"]["properties"])
    assert set(sample_payload(event_type)["contents"]) == set(payload["contents"])


def test_tag_push_sample_is_the_seed_example() -> None:
    assert sample_payload(EventType.TAG_PUSH) == {
        "type": "TAG_PUSH",
        "createdAt": "2019-05-15T19:39:40.607337713Z",
        "contents": {
            "namespace": "foo",
            "repository": "bar",
            "tag": "latest",
            "digest": "sha256:b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b878ae4944c",
            "imageName": "foo/bar:latest",
            "os": "linux",
            "architecture": "amd64",
            "author": "",
            "pushedAt": "2015-01-02T15:04:05Z",
        },
        "location": "/repositories/foo/bar/tags/latest",
    }


def test_seed_field_conventions() -> None:
    p = built()
    assert p[EventType.TAG_PUSH]["contents"]["imageName"] == f"{HOST}/foo/bar:v1"
    assert p[EventType.MANIFEST_PUSH]["contents"]["imageName"] == f"{HOST}/foo/bar@{IMG.digest}"
    assert p[EventType.TAG_PUSH]["createdAt"] == "2024-05-06T07:08:09.123456Z"
    assert p[EventType.TAG_PUSH]["location"] == "/repositories/foo/bar/tags/v1"
    assert p[EventType.MANIFEST_PUSH]["location"] == "/repositories/foo/bar"
    assert p[EventType.SCANNER_UPDATE_COMPLETED]["location"] == "/"
    summary = p[EventType.SCAN_COMPLETED]["contents"]["scanSummary"]
    assert "last_scan_status" in summary and "check_completed_at" in summary
    assert p[EventType.SCAN_FAILED]["contents"]["imageName"].endswith(f"@{IMG.digest}")
    deleted = repo_event(RepoEventKind.REPO_DELETED, "foo", "bar", "a", {"x": 1}, AT)
    assert deleted.contents["data"] is None
    assert p[EventType.PROMOTION]["contents"]["promotion"]["sourceRepository"] == "foo/src"
