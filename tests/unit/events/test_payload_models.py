"""The payload models are the one source: builders (through `wire`) agree with them field for
field and in order, the served schemas are generated from them, every sample is an instance of
them, and the seed document's examples validate against the served schemas."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, get_args

import jsonschema
import pytest

from dockyard.clock import rfc3339
from dockyard.events.payloads import (
    Payload,
    RepoEventContents,
    TagPushContents,
    payload_model,
)
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
    PAYLOAD_CONTENTS,
    Event,
    EventType,
    ImageRef,
    RepoEventKind,
    manifest_event,
    repo_event,
    stamp,
    tag_event,
)

AT = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
IMG = ImageRef("ns", "repo", "sha256:" + "cd" * 32, "windows", "arm64", "t1")
HOST = "registry.local"


def all_events() -> list[Event]:
    tags = (EventType.TAG_PUSH, EventType.TAG_PULL, EventType.TAG_DELETE)
    manifests = (EventType.MANIFEST_PUSH, EventType.MANIFEST_PULL, EventType.MANIFEST_DELETE)
    mirrors = (EventType.PUSH_MIRRORING, EventType.POLL_MIRRORING)
    return [
        *(tag_event(t, HOST, IMG, "bob", AT) for t in tags),
        *(manifest_event(t, HOST, IMG, "bob", AT) for t in manifests),
        scan_completed_event(HOST, IMG, ScanSummary(4, 5, 6, 3, None), AT),
        scan_failed_event(HOST, IMG, "layer unreadable", AT),
        promotion_event(HOST, "ns", "src", "t0", IMG, "policy", "bob", AT),
        *(mirroring_event(t, HOST, IMG, "p", "r.io", "x/y", "t2", "bob", AT) for t in mirrors),
        repo_event(RepoEventKind.REPO_UPDATED, "ns", "repo", "bob", {"name": "repo"}, AT),
        repo_event(RepoEventKind.REPO_DELETED, "ns", "repo", "bob", None, AT),
        scanner_update_event(
            "2.0",
            AT,
            9,
            None,
            False,
            [ReplicaUpdate("a1", "2.0", AT), ReplicaUpdate("b2", "", None)],
            AT,
        ),
    ]


@pytest.mark.parametrize("event", all_events(), ids=lambda e: e.type.value)
def test_builders_agree_with_the_model(event: Event) -> None:
    """The fast builders send exactly what the model validates and would itself send."""
    wire = json.dumps(event.payload())
    model = payload_model(PAYLOAD_CONTENTS[event.type])
    validated = model.model_validate_json(wire)  # strict: no coercion hides a wrong type
    assert json.dumps(validated.model_dump(mode="json")) == wire  # same keys, same order
    assert validated.model_extra is None or validated.model_extra == {}
    assert validated.contents.model_extra == {}  # nothing outside the model


def test_every_event_type_has_a_model_and_the_wrapper_is_the_models() -> None:
    assert set(PAYLOAD_CONTENTS) == set(EventType)
    assert {e.type for e in all_events()} == set(EventType)
    assert list(all_events()[0].payload()) == list(Payload.model_fields)


def test_repo_event_kinds_are_the_models() -> None:
    literal = RepoEventContents.model_fields["event"].annotation
    assert set(get_args(literal)) == {kind.value for kind in RepoEventKind}


def test_wire_orders_by_the_model_and_refuses_other_fields() -> None:
    fields = dict(zip(TagPushContents.wire_keys, map(str, range(9)), strict=True))
    shuffled = dict(reversed(fields.items()))
    assert list(TagPushContents.wire(**shuffled)) == list(TagPushContents.wire_keys)
    with pytest.raises(TypeError, match="missing field 'pushedAt'"):
        TagPushContents.wire(**{k: v for k, v in fields.items() if k != "pushedAt"})
    with pytest.raises(TypeError, match="unknown fields \\['pulledAt'\\]"):
        TagPushContents.wire(**fields, pulledAt="x")


@pytest.mark.parametrize("event_type", list(EventType))
def test_served_schema_is_valid_and_its_example_is_the_sample(event_type: EventType) -> None:
    schema = event_schema(event_type)
    jsonschema.Draft202012Validator.check_schema(schema)
    sample = sample_payload(event_type)
    jsonschema.Draft202012Validator(schema).validate(sample)
    payload_model(PAYLOAD_CONTENTS[event_type]).model_validate_json(json.dumps(sample))
    assert schema["examples"] == [sample]
    assert "$defs" not in json.dumps(schema) and "$ref" not in json.dumps(schema)
    assert schema["properties"]["type"] == {"const": event_type.value}
    assert schema["additionalProperties"] is False
    assert schema["properties"]["contents"]["additionalProperties"] is True


def test_a_sample_is_a_fresh_copy() -> None:
    sample_payload(EventType.REPO_EVENT)["contents"]["data"]["name"] = "changed"
    sample_payload(EventType.REPO_EVENT)["contents"]["event"] = "REPO_DELETED"
    event_schema(EventType.REPO_EVENT)["properties"].clear()
    assert sample_payload(EventType.REPO_EVENT)["contents"]["data"]["name"] == "bar"
    assert sample_payload(EventType.REPO_EVENT)["contents"]["event"] == "REPO_CREATED"
    assert "contents" in event_schema(EventType.REPO_EVENT)["properties"]


def test_stamp_is_rfc3339_for_any_equal_instant() -> None:
    """`stamp` is remembered by instant: equal instants in other zones print the same UTC text."""
    paris = AT.astimezone(timezone(timedelta(hours=2)))
    assert stamp(AT) == stamp(paris) == rfc3339(paris) == "2024-05-06T07:08:09.123456Z"
    naive = datetime(2024, 5, 6, 7, 8, 9)
    assert stamp(naive) == rfc3339(naive) == "2024-05-06T07:08:09.000000Z"
    assert stamp(None) == rfc3339(None)


# The seed document (msr-webhooks.txt), verbatim: the example payload of "Test" ...
SEED_TAG_PUSH = (
    '{ "type": "TAG_PUSH", "createdAt": "2019-05-15T19:39:40.607337713Z", "contents": '
    '{ "namespace": "foo", "repository": "bar", "tag": "latest", "digest": '
    '"sha256:b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b878ae4944c", '
    '"imageName": "foo/bar:latest", "os": "linux", "architecture": "amd64", "author": "", '
    '"pushedAt": "2015-01-02T15:04:05Z" }, "location": "/repositories/foo/bar/tags/latest" }'
)


def test_seed_tag_push_example_validates_and_is_the_sample() -> None:
    seed = json.loads(SEED_TAG_PUSH)
    jsonschema.Draft202012Validator(event_schema(EventType.TAG_PUSH)).validate(seed)
    assert json.dumps(sample_payload(EventType.TAG_PUSH)) == json.dumps(seed)  # order too


# ... and its "Content structure" section, transcribed field by field with its placeholder
# values; `True` marks a structure the seed clips ("...": more fields follow).
_S, _T, _I = "", "", 0  # the seed's placeholders: string, timestamp, int
_IMAGE = {"namespace": _S, "repository": _S}
_TAGGED = {**_IMAGE, "tag": _S, "digest": _S, "imageName": _S, "os": _S, "architecture": _S}
_DIGESTED = {**_IMAGE, "digest": _S, "imageName": _S, "os": _S, "architecture": _S}
SEED_CONTENTS: list[tuple[EventType, dict[str, Any], bool]] = [
    (EventType.TAG_PUSH, {**_TAGGED, "author": _S, "pushedAt": _T}, True),
    (EventType.TAG_DELETE, {**_TAGGED, "author": _S, "deletedAt": _T}, True),
    (EventType.MANIFEST_PUSH, {**_DIGESTED, "author": _S}, True),
    (EventType.MANIFEST_DELETE, {**_DIGESTED, "author": _S, "deletedAt": _T}, True),
    (
        EventType.SCAN_COMPLETED,
        {
            **_IMAGE,
            "tag": _S,
            "imageName": _S,
            "scanSummary": {
                **_IMAGE,
                "tag": _S,
                "critical": _I,
                "major": _I,
                "minor": _I,
                "last_scan_status": _I,
                "check_completed_at": _T,
            },
        },
        False,
    ),
    (EventType.SCAN_FAILED, {**_IMAGE, "tag": _S, "imageName": _S, "error": _S}, True),
    (EventType.REPO_EVENT, {**_IMAGE, "event": "REPO_CREATED", "author": _S, "data": {}}, False),
    (
        EventType.SCANNER_UPDATE_COMPLETED,
        {
            "scanner_version": _S,
            "scanner_updated_at": _T,
            "db_version": _I,
            "db_updated_at": _T,
            "success": True,
            "replicas": {"replica_id": {"db_updated_at": _T, "version": _S, "replica_id": _S}},
        },
        False,
    ),
]


def _without_patterns(schema: Any) -> Any:
    """The schema minus `pattern`s: the seed writes "" for every string, digests included."""
    if isinstance(schema, dict):
        return {k: _without_patterns(v) for k, v in schema.items() if k != "pattern"}
    return schema


def _assert_same_fields(seed: dict[str, Any], schema: dict[str, Any], clipped: bool) -> None:
    """Seed fields are the schema's, in the same order; only a clipped tail may be missing."""
    names = list(schema["properties"])
    assert list(seed) == names[: len(seed)], (list(seed), names)
    assert clipped or list(seed) == names
    for name, value in seed.items():
        field = schema["properties"][name]
        if isinstance(value, dict) and "properties" in field:
            _assert_same_fields(value, field, clipped=False)
        elif isinstance(value, dict) and isinstance(field.get("additionalProperties"), dict):
            for entry in value.values():  # a map, as `replicas`
                _assert_same_fields(entry, field["additionalProperties"], clipped=False)


@pytest.mark.parametrize(
    ("event_type", "seed", "clipped"), SEED_CONTENTS, ids=[t.value for t, _, _ in SEED_CONTENTS]
)
def test_seed_content_structures_validate(
    event_type: EventType, seed: dict[str, Any], clipped: bool
) -> None:
    contents_schema = event_schema(event_type)["properties"]["contents"]
    _assert_same_fields(seed, contents_schema, clipped)
    relaxed = _without_patterns(contents_schema)
    if clipped:
        relaxed["required"] = [name for name in relaxed["required"] if name in seed]
    jsonschema.Draft202012Validator(relaxed).validate(seed)


def test_wire_order_of_the_types_the_seed_does_not_show() -> None:
    """Receivers may depend on key order; these are the orders dockyard has always sent."""
    image = ["namespace", "repository", "tag", "digest", "imageName", "os", "architecture"]
    contents = {e.type: e.contents for e in all_events()}
    assert list(contents[EventType.TAG_PULL]) == [*image, "author", "pulledAt"]
    digested = [name for name in image if name != "tag"]
    assert list(contents[EventType.MANIFEST_PULL]) == [*digested, "author", "pulledAt"]
    promotion = contents[EventType.PROMOTION]
    assert list(promotion) == [*image, "author", "promotedAt", "promotion"]
    assert list(promotion["promotion"]) == [
        "promotionPolicyID",
        "sourceRepository",
        "sourceTag",
        "targetRepository",
        "targetTag",
    ]
    for mirrored in (EventType.PUSH_MIRRORING, EventType.POLL_MIRRORING):
        assert list(contents[mirrored]) == [*image, "author", "mirroredAt", "mirroring"]
        assert list(contents[mirrored]["mirroring"]) == [
            "mirroringPolicyID",
            "digest",
            "remoteHost",
            "remoteRepository",
            "remoteTag",
        ]
