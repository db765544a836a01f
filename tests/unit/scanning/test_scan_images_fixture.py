"""The scan fixture images: valid OCI layouts skopeo reads, whose layers inventory as declared."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.scanning.inventory import Inventory, LayerFindings, merge_layers, scan_layer
from tests.fakes.scan_images import ScanImage, build_alpine_image, build_debian_image
from tests.fakes.skopeo import skopeo

BUILDERS = {"debian": build_debian_image, "alpine": build_alpine_image}


def _blob(folder: Path, digest: str) -> Path:
    return folder / "blobs" / "sha256" / digest.split(":", 1)[1]


def _inventory(
    image: ScanImage, open_blob: Callable[[str], Path]
) -> tuple[Inventory, list[LayerFindings]]:
    findings = []
    for digest in image.image.layer_digests:
        with open_blob(digest).open("rb") as blob:
            findings.append(scan_layer(digest, blob))
    return merge_layers(findings), findings


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_the_layout_inventories_as_declared(tmp_path: Path, name: str) -> None:
    image = BUILDERS[name](tmp_path / name)
    index = json.loads((image.layout / "index.json").read_text())
    assert index["manifests"][0]["digest"] == image.image.manifest_digest
    manifest = json.loads(_blob(image.layout, image.image.manifest_digest).read_bytes())
    assert [layer["digest"] for layer in manifest["layers"]] == image.image.layer_digests
    assert len(image.image.layer_digests) >= 3

    inventory, findings = _inventory(image, lambda d: _blob(image.layout, d))
    assert inventory == image.expected
    # What was removed on the way up was there below: the whiteout is what hides it.
    for package in image.removed:
        assert package.key not in {p.key for p in image.expected.packages}
        lower = merge_layers(findings[: image.image.layer_digests.index(package.layer) + 1])
        assert package.key in {p.key for p in lower.packages}
    # Packages come from several layers.
    assert len({p.layer for p in image.expected.packages}) >= 3


def test_the_debian_expectations(tmp_path: Path) -> None:
    image = build_debian_image(tmp_path / "debian")
    ecosystems = {p.ecosystem for p in image.expected.packages}
    assert ecosystems == {"Debian", "PyPI", "npm"}
    by_binary = {(p.binary or p.name): p for p in image.expected.packages}
    assert (by_binary["libc6"].name, by_binary["libc6"].version) == ("glibc", "2.36-9")
    assert by_binary["zlib1g"].version == "1:1.2.13.dfsg-1"
    assert ("PyPI", "requests", "2.19.0") in {
        (p.ecosystem, p.name, p.version) for p in image.removed
    }


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is installed by `make test`")
def test_skopeo_reads_the_layout(tmp_path: Path) -> None:
    image = build_alpine_image(tmp_path / "alpine", tag="v1")
    out = tmp_path / "copied"
    skopeo("copy", image.image.ref("v1"), f"dir:{out}", timeout=120)
    # The layers arrive unchanged (no recompression), so their digests and inventory hold.
    inventory, _ = _inventory(image, lambda d: out / d.split(":", 1)[1])
    assert inventory == image.expected
