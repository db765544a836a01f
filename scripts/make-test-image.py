#!/usr/bin/env python3
"""Write a small OCI image layout to push to dockyard without Internet access.

    python3 scripts/make-test-image.py ./my-image            # one layer holding hello.txt
    python3 scripts/make-test-image.py ./my-image --tag v1 --add ./some/file --arch arm64
    skopeo copy --dest-tls-verify=false --dest-creds "admin:$DOCKYARD_PASSWORD" \
        oci:./my-image:latest docker://127.0.0.1:5000/admin/hello:latest

The image is data, not a runnable program: one gzipped tar layer with the given files, a
config and a manifest, byte-for-byte reproducible (fixed timestamps). Any OCI tool reads the
layout (skopeo, oras, umoci, podman). Standard library only, so it runs before `make run`.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def _layer(files: dict[str, bytes]) -> tuple[bytes, str]:
    """A gzipped tar of `files` and the digest of the uncompressed tar (the diff id)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(content), 0, 0o644
            tar.addfile(info, io.BytesIO(content))
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
    return packed.getvalue(), "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()


def write_layout(
    layout: Path, files: dict[str, bytes], tag: str = "latest", arch: str = "amd64"
) -> str:
    """Write (or add `tag` to) the layout; returns the manifest digest."""
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))

    def blob(data: bytes) -> dict[str, object]:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    layer, diff_id = _layer(files)
    config = {
        "architecture": arch,
        "os": "linux",
        "created": "2026-01-01T00:00:00Z",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, **blob(json.dumps(config, sort_keys=True).encode())},
        "layers": [{"mediaType": OCI_LAYER, **blob(layer)}],
    }
    described = blob(json.dumps(manifest, sort_keys=True).encode())
    index_path = layout / "index.json"
    index = (
        json.loads(index_path.read_text())
        if index_path.exists()
        else {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    )
    ref_key = "org.opencontainers.image.ref.name"
    index["manifests"] = [
        m for m in index["manifests"] if m.get("annotations", {}).get(ref_key) != tag
    ] + [{"mediaType": OCI_MANIFEST, **described, "annotations": {ref_key: tag}}]
    index_path.write_text(json.dumps(index, indent=2) + "\n")
    return str(described["digest"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("layout", type=Path, help="folder to write the OCI layout into")
    parser.add_argument("--tag", default="latest", help="tag inside the layout (default latest)")
    parser.add_argument("--arch", default="amd64", help="architecture in the config")
    parser.add_argument(
        "--add", type=Path, action="append", default=[], help="a file to put in the layer"
    )
    args = parser.parse_args()
    files = {path.name: path.read_bytes() for path in args.add} or {
        "hello.txt": b"hello from dockyard\n"
    }
    digest = write_layout(args.layout, files, args.tag, args.arch)
    print(f"wrote oci:{args.layout}:{args.tag} ({digest})")


if __name__ == "__main__":
    main()
