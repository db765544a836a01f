"""Manifest parsing and validation: media types, descriptors, content negotiation."""

from __future__ import annotations

import json

import pytest

from dockyard.errors import ErrorCode
from dockyard.registry.mediatypes import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
    ManifestError,
    accepts,
    media_type_of,
    parse_manifest,
    platform_of_config,
)

D1 = "sha256:" + "a" * 64
D2 = "sha256:" + "b" * 64


def image(**extra: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": D1, "size": 10},
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": D2, "size": 5}
        ],
    }
    doc.update(extra)
    return doc


def index(**child: object) -> dict[str, object]:
    """An OCI index of one child manifest descriptor with `child`'s extra fields."""
    descriptor = {"mediaType": OCI_MANIFEST, "digest": D1, "size": 3, **child}
    return {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [descriptor]}


def body(doc: object) -> bytes:
    return json.dumps(doc).encode()


def test_oci_image_manifest_parses() -> None:
    parsed = parse_manifest(body(image()), OCI_MANIFEST)
    assert parsed.media_type == OCI_MANIFEST
    assert parsed.config is not None and parsed.config.digest == D1
    assert [d.digest for d in parsed.layers] == [D2]
    assert not parsed.is_index
    assert parsed.effective_artifact_type == OCI_CONFIG


def test_index_parses_with_platforms() -> None:
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": D1,
                "size": 3,
                "platform": {"os": "linux", "architecture": "arm64"},
            },
        ],
    }
    parsed = parse_manifest(body(doc), OCI_INDEX + "; charset=utf-8")
    assert parsed.is_index
    assert parsed.children[0].architecture == "arm64"


def test_docker_list_and_manifest() -> None:
    doc = image(mediaType=DOCKER_MANIFEST)
    assert parse_manifest(body(doc), DOCKER_MANIFEST).media_type == DOCKER_MANIFEST
    lst = {"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": []}
    assert parse_manifest(body(lst), DOCKER_LIST).is_index


def test_subject_and_artifact_type() -> None:
    doc = image(
        subject={"mediaType": OCI_MANIFEST, "digest": D2, "size": 1},
        artifactType="application/x-sig",
        annotations={"a": "b"},
    )
    parsed = parse_manifest(body(doc), OCI_MANIFEST)
    assert parsed.subject is not None and parsed.subject.digest == D2
    assert parsed.effective_artifact_type == "application/x-sig"
    assert parsed.annotations == {"a": "b"}


def test_media_type_from_body_when_content_type_is_generic() -> None:
    assert parse_manifest(body(image()), "application/json").media_type == OCI_MANIFEST
    doc = image()
    del doc["mediaType"]
    assert parse_manifest(body(doc), None).media_type == OCI_MANIFEST


@pytest.mark.parametrize(
    ("payload", "content_type"),
    [
        (b"not json", OCI_MANIFEST),
        (b"[]", OCI_MANIFEST),
        (body(image(schemaVersion=1)), OCI_MANIFEST),
        (body(image()), "text/plain"),
        (body(image()), OCI_INDEX),  # mediaType differs from Content-Type
        (
            body(image(config={"mediaType": OCI_CONFIG, "digest": "sha256:xyz", "size": 1})),
            OCI_MANIFEST,
        ),
        (body(image(config={"mediaType": OCI_CONFIG, "digest": D1, "size": -1})), OCI_MANIFEST),
        (body(image(layers="nope")), OCI_MANIFEST),
        (body({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": {}}), OCI_INDEX),
        (body(image(mediaType=None)), DOCKER_MANIFEST),  # docker types must declare mediaType
        (body(image(annotations={"a": 1})), OCI_MANIFEST),
        (body({"schemaVersion": 2}), None),
        (body(index(platform="linux/amd64")), OCI_INDEX),  # platform is an object
        (body(index(platform={"os": "linux", "architecture": 64})), OCI_INDEX),
    ],
)
def test_invalid_manifests(payload: bytes, content_type: str | None) -> None:
    with pytest.raises(ManifestError) as info:
        parse_manifest(payload, content_type)
    assert info.value.code is ErrorCode.MANIFEST_INVALID


def test_platform_of_config() -> None:
    assert platform_of_config(b'{"os": "linux", "architecture": "s390x"}') == ("linux", "s390x")
    assert platform_of_config(b"garbage") == ("", "")
    assert platform_of_config(b'{"os": 5}') == ("", "")


def test_accepts() -> None:
    assert accepts(None, OCI_INDEX)
    assert accepts("*/*", OCI_INDEX)
    assert accepts(f"{OCI_MANIFEST}, {OCI_INDEX}", OCI_INDEX)
    assert not accepts(DOCKER_MANIFEST, OCI_INDEX)
    assert accepts("application/json", OCI_INDEX)
    assert media_type_of("Application/JSON; q=1") == "application/json"
