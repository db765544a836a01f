"""Build OCI image layouts on disk (no Docker engine here) for skopeo to push.

Layers are real gzipped tarballs, so skopeo does not recompress them and digests are stable.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_layer(files: dict[str, bytes]) -> bytes:
    """A gzipped tar with the given files, byte-for-byte reproducible."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mtime = 0
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(content))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


@dataclass
class BuiltImage:
    layout: Path
    manifest_digest: str
    manifest_bytes: bytes
    config_digest: str
    layer_digests: list[str]

    def ref(self, tag: str = "latest") -> str:
        return f"oci:{self.layout}:{tag}"


class LayoutWriter:
    def __init__(self, layout: Path) -> None:
        self.layout = layout
        (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))

    def blob(self, data: bytes) -> str:
        digest = sha256(data)
        (self.layout / "blobs" / "sha256" / digest.split(":")[1]).write_bytes(data)
        return digest

    def image_manifest(
        self, layers: list[bytes], os_name: str = "linux", arch: str = "amd64"
    ) -> tuple[str, bytes, str, list[str]]:
        layer_digests = [self.blob(layer) for layer in layers]
        config = {
            "architecture": arch,
            "os": os_name,
            "created": "2026-01-01T00:00:00Z",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {
                "type": "layers",
                "diff_ids": [sha256(gzip.decompress(layer)) for layer in layers],
            },
        }
        config_bytes = json.dumps(config, sort_keys=True).encode()
        config_digest = self.blob(config_bytes)
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config_bytes)},
            "layers": [
                {"mediaType": OCI_LAYER_GZIP, "digest": d, "size": len(layer)}
                for d, layer in zip(layer_digests, layers, strict=True)
            ],
        }
        manifest_bytes = json.dumps(manifest, sort_keys=True).encode()
        return self.blob(manifest_bytes), manifest_bytes, config_digest, layer_digests

    def write_index(self, entries: list[dict[str, object]]) -> None:
        (self.layout / "index.json").write_text(
            json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
        )


def build_image(
    layout: Path,
    layers: list[bytes] | None = None,
    tag: str = "latest",
    os_name: str = "linux",
    arch: str = "amd64",
) -> BuiltImage:
    writer = LayoutWriter(layout)
    if layers is None:
        layers = [make_layer({"hello.txt": f"hello from {layout.name}\n".encode()})]
    digest, body, config_digest, layer_digests = writer.image_manifest(layers, os_name, arch)
    writer.write_index(
        [
            {
                "mediaType": OCI_MANIFEST,
                "digest": digest,
                "size": len(body),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ]
    )
    return BuiltImage(layout, digest, body, config_digest, layer_digests)


def build_multiplatform(
    layout: Path, platforms: list[tuple[str, str]] | None = None, tag: str = "latest"
) -> BuiltImage:
    """An image index over one image per platform (default linux/amd64 and linux/arm64)."""
    writer = LayoutWriter(layout)
    platforms = platforms or [("linux", "amd64"), ("linux", "arm64")]
    children = []
    for os_name, arch in platforms:
        layer = make_layer({"platform.txt": f"{os_name}/{arch}\n".encode()})
        digest, body, _cfg, _layers = writer.image_manifest([layer], os_name, arch)
        children.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": digest,
                "size": len(body),
                "platform": {"os": os_name, "architecture": arch},
            }
        )
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}
    index_bytes = json.dumps(index, sort_keys=True).encode()
    index_digest = writer.blob(index_bytes)
    writer.write_index(
        [
            {
                "mediaType": OCI_INDEX,
                "digest": index_digest,
                "size": len(index_bytes),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ]
    )
    return BuiltImage(layout, index_digest, index_bytes, "", [c["digest"] for c in children])
