"""What the tag page shows of an image beyond its database row: the manifest's layers and
annotations, an index's platforms, and the image config (entrypoint, environment variable
names, labels, created, history).

The manifest and config are JSON documents in the blob store, named by digest: read with a
size cap (a page never loads a huge blob) and parsed leniently, so a document that is missing
or odd shows as "not available" instead of failing the page. Environment variables are shown
by name only: their values are often secrets baked into images.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from dockyard.registry.mediatypes import INDEX_TYPES
from dockyard.storage.base import BlobStore

# Manifests are at most 4 MiB (the registry refuses larger ones); configs with a long history
# are rarely over a few hundred KiB.
MAX_DOCUMENT = 4 << 20


@dataclass(frozen=True)
class Layer:
    digest: str
    media_type: str
    size: int


@dataclass(frozen=True)
class Platform:
    digest: str
    media_type: str
    size: int
    os: str
    architecture: str
    variant: str

    @property
    def label(self) -> str:
        arch = f"{self.architecture}/{self.variant}" if self.variant else self.architecture
        return f"{self.os or '—'} / {arch or '—'}"


@dataclass(frozen=True)
class HistoryStep:
    created: str
    created_by: str
    comment: str
    empty_layer: bool


@dataclass(frozen=True)
class ImageConfig:
    created: str = ""
    author: str = ""
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    working_dir: str = ""
    user: str = ""
    env_names: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    history: list[HistoryStep] = field(default_factory=list)


@dataclass(frozen=True)
class ManifestDetails:
    """A manifest's document, as far as it could be read (`available` False: not at all)."""

    available: bool
    media_type: str = ""
    artifact_type: str = ""
    config_digest: str = ""
    config_media_type: str = ""
    layers: list[Layer] = field(default_factory=list)
    platforms: list[Platform] = field(default_factory=list)
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES or bool(self.platforms)


async def read_json(storage: BlobStore, digest: str) -> dict[str, Any] | None:
    """A JSON object stored under `digest`, or None when it is missing, too big or not one."""
    if not digest:
        return None
    size = await storage.stat(digest)
    if size is None or size > MAX_DOCUMENT:
        return None
    try:
        body = b"".join([chunk async for chunk in storage.read(digest)])
        doc = json.loads(body)
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _string_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in sorted(value.items())}


def _descriptors(value: Any) -> list[dict[str, Any]]:
    return [d for d in value if isinstance(d, dict)] if isinstance(value, list) else []


def parse_manifest(doc: dict[str, Any] | None) -> ManifestDetails:
    if doc is None:
        return ManifestDetails(available=False)
    config = doc.get("config") if isinstance(doc.get("config"), dict) else {}
    assert isinstance(config, dict)
    layers = [
        Layer(_text(d.get("digest")), _text(d.get("mediaType")), _int(d.get("size")))
        for d in _descriptors(doc.get("layers"))
    ]
    platforms = []
    for d in _descriptors(doc.get("manifests")):
        p = d.get("platform") if isinstance(d.get("platform"), dict) else {}
        assert isinstance(p, dict)
        platforms.append(
            Platform(
                _text(d.get("digest")),
                _text(d.get("mediaType")),
                _int(d.get("size")),
                _text(p.get("os")),
                _text(p.get("architecture")),
                _text(p.get("variant")),
            )
        )
    return ManifestDetails(
        available=True,
        media_type=_text(doc.get("mediaType")),
        artifact_type=_text(doc.get("artifactType")),
        config_digest=_text(config.get("digest")),
        config_media_type=_text(config.get("mediaType")),
        layers=layers,
        platforms=platforms,
        annotations=_string_map(doc.get("annotations")),
    )


def parse_config(doc: dict[str, Any] | None) -> ImageConfig | None:
    """The image config's facts, or None when there is none to show (an artifact's config is
    often an empty `{}`: that is shown as no config)."""
    if not doc:
        return None
    run = doc.get("config") if isinstance(doc.get("config"), dict) else {}
    assert isinstance(run, dict)
    env = [e.split("=", 1)[0] for e in _strings(run.get("Env"))]
    history = [
        HistoryStep(
            _text(h.get("created")),
            _text(h.get("created_by")),
            _text(h.get("comment")),
            h.get("empty_layer") is True,
        )
        for h in _descriptors(doc.get("history"))
    ]
    return ImageConfig(
        created=_text(doc.get("created")),
        author=_text(doc.get("author")),
        entrypoint=_strings(run.get("Entrypoint")),
        cmd=_strings(run.get("Cmd")),
        working_dir=_text(run.get("WorkingDir")),
        user=_text(run.get("User")),
        env_names=env,
        labels=_string_map(run.get("Labels")),
        history=history,
    )


async def manifest_details(storage: BlobStore, digest: str) -> ManifestDetails:
    return parse_manifest(await read_json(storage, digest))


async def image_config(storage: BlobStore, details: ManifestDetails) -> ImageConfig | None:
    if not details.available or details.is_index:
        return None
    return parse_config(await read_json(storage, details.config_digest))
