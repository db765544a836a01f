"""Manifest media types and manifest parsing/validation (OCI image manifest and index,
Docker v2 schema 2 manifest and manifest list). Pure: bytes in, a ParsedManifest or a
ManifestError out; no I/O, no HTTP.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from dockyard.errors import ErrorCode
from dockyard.storage.digest import is_valid_digest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"

IMAGE_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = IMAGE_TYPES | INDEX_TYPES
# Config blobs we read os/architecture from.
IMAGE_CONFIG_TYPES = frozenset({OCI_CONFIG, DOCKER_CONFIG})
# Layers that live elsewhere (urls): the registry need not hold them.
FOREIGN_LAYER_TYPES = frozenset(
    {
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    }
)
# Descriptor sizes are int64 in the image spec (and in our database columns).
MAX_SIZE = 2**63 - 1
# Content types that say nothing about which manifest this is: trust the body then.
_GENERIC_CONTENT_TYPES = frozenset({"", "application/json", "application/octet-stream"})


class ManifestError(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    os: str = ""
    architecture: str = ""
    artifact_type: str = ""
    foreign: bool = False


@dataclass(frozen=True)
class ParsedManifest:
    media_type: str
    config: Descriptor | None
    layers: tuple[Descriptor, ...] = ()
    children: tuple[Descriptor, ...] = ()
    subject: Descriptor | None = None
    artifact_type: str = ""
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    @property
    def effective_artifact_type(self) -> str:
        """What the referrers API reports: artifactType, else the config's media type."""
        if self.artifact_type:
            return self.artifact_type
        if self.config is not None:
            return self.config.media_type
        return ""


def media_type_of(content_type: str | None) -> str:
    """The bare media type of a Content-Type header (parameters dropped, lowercased)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def _invalid(message: str) -> ManifestError:
    return ManifestError(ErrorCode.MANIFEST_INVALID, message)


def _descriptor(raw: Any, where: str) -> Descriptor:
    if not isinstance(raw, dict):
        raise _invalid(f"{where} must be a descriptor object")
    media_type = raw.get("mediaType")
    digest = raw.get("digest")
    size = raw.get("size")
    if not isinstance(media_type, str) or not media_type:
        raise _invalid(f"{where}.mediaType must be a non-empty string")
    if not isinstance(digest, str) or not is_valid_digest(digest):
        raise _invalid(f"{where}.digest is not a valid digest")
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_SIZE:
        raise _invalid(f"{where}.size must be an integer from 0 to {MAX_SIZE} (int64)")
    os_name, arch = _platform(raw.get("platform"), where)
    artifact_type = raw.get("artifactType", "")
    return Descriptor(
        media_type=media_type,
        digest=digest,
        size=size,
        os=os_name[:64],
        architecture=arch[:64],
        artifact_type=artifact_type if isinstance(artifact_type, str) else "",
        foreign=media_type in FOREIGN_LAYER_TYPES,
    )


def _platform(platform: Any, where: str) -> tuple[str, str]:
    """(os, architecture) of a descriptor's optional `platform`, which the image-index spec makes an
    object whose `os` and `architecture` (and `variant`, `os.version`) are strings."""
    if platform is None:
        return "", ""
    if not isinstance(platform, dict):
        raise _invalid(f"{where}.platform must be an object with os and architecture")
    for name in ("os", "architecture", "variant", "os.version"):
        if name in platform and not isinstance(platform[name], str):
            raise _invalid(f"{where}.platform.{name} must be a string")
    return str(platform.get("os", "")), str(platform.get("architecture", ""))


def _detect(doc: dict[str, Any], content_type: str) -> str:
    declared = doc.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise _invalid("mediaType must be a string")
    if content_type in MANIFEST_TYPES:
        if declared and declared != content_type:
            raise _invalid(
                f"the manifest's mediaType {declared!r} differs from Content-Type {content_type!r}"
            )
        return content_type
    if content_type not in _GENERIC_CONTENT_TYPES:
        raise _invalid(f"unsupported manifest media type {content_type!r}")
    if declared:
        if declared not in MANIFEST_TYPES:
            raise _invalid(f"unsupported manifest media type {declared!r}")
        return declared
    if "manifests" in doc:
        return OCI_INDEX
    if "config" in doc:
        return OCI_MANIFEST
    raise _invalid("cannot tell the manifest's media type")


def parse_manifest(body: bytes, content_type: str | None) -> ParsedManifest:
    """Validate a manifest body against its media type; raise ManifestError when invalid."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _invalid(f"the manifest is not valid JSON: {exc}") from None
    except RecursionError:
        raise _invalid("the manifest's JSON is nested too deeply") from None
    if not isinstance(doc, dict):
        raise _invalid("the manifest must be a JSON object")
    if doc.get("schemaVersion") != 2:
        raise _invalid("schemaVersion must be 2")
    media_type = _detect(doc, media_type_of(content_type))
    if media_type in (DOCKER_MANIFEST, DOCKER_LIST) and doc.get("mediaType") != media_type:
        raise _invalid("Docker schema 2 manifests must carry their mediaType")
    subject = _descriptor(doc["subject"], "subject") if doc.get("subject") is not None else None
    artifact_type = doc.get("artifactType", "")
    if not isinstance(artifact_type, str):
        raise _invalid("artifactType must be a string")
    annotations = doc.get("annotations") or {}
    if not isinstance(annotations, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()
    ):
        raise _invalid("annotations must map strings to strings")
    if media_type in INDEX_TYPES:
        raw_children = doc.get("manifests")
        if not isinstance(raw_children, list):
            raise _invalid("manifests must be a list")
        children = tuple(_descriptor(c, f"manifests[{i}]") for i, c in enumerate(raw_children))
        return ParsedManifest(
            media_type,
            None,
            children=children,
            subject=subject,
            artifact_type=artifact_type,
            annotations=annotations,
        )
    if "config" not in doc:
        raise _invalid("config is required")
    config = _descriptor(doc["config"], "config")
    raw_layers = doc.get("layers")
    if raw_layers is None and media_type == OCI_MANIFEST:
        raw_layers = []
    if not isinstance(raw_layers, list):
        raise _invalid("layers must be a list")
    layers = tuple(_descriptor(layer, f"layers[{i}]") for i, layer in enumerate(raw_layers))
    return ParsedManifest(
        media_type,
        config,
        layers=layers,
        subject=subject,
        artifact_type=artifact_type,
        annotations=annotations,
    )


def platform_of_config(body: bytes) -> tuple[str, str]:
    """(os, architecture) of an image config blob; empty strings when it does not say."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return "", ""
    if not isinstance(doc, dict):
        return "", ""
    os_name = doc.get("os", "")
    arch = doc.get("architecture", "")
    return (
        os_name[:64] if isinstance(os_name, str) else "",
        arch[:64] if isinstance(arch, str) else "",
    )


def accepts(accept_header: str | None, media_type: str) -> bool:
    """Whether a client's Accept list admits this manifest media type.

    No Accept, wildcards, or only non-manifest types: yes (curl, old clients). Only when the
    client lists manifest types and not this one does it not accept it.
    """
    if not accept_header:
        return True
    listed = {media_type_of(part) for part in accept_header.split(",")}
    if media_type in listed or "*/*" in listed or "application/*" in listed:
        return True
    return not (listed & MANIFEST_TYPES)
