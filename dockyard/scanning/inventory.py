"""An image's installed packages, from its layers' tar streams; pure (no database, no HTTP).

`scan_layer` reads one layer blob once, streaming, and says what that layer holds: the package
database files it writes (each with its packages), the paths it deletes (whiteouts, and links or
files put where a package database or a package's folder was), the folders it makes opaque, and
its os-release. It depends on the layer alone, so a layer is inventoried once per digest and its
findings are stored (`to_json`). `merge_layers` overlays the findings bottom layer first as the
image's file system would and lists what is installed at the top, each package attributed to the
lowest layer from which it has been present without interruption.

Only regular files at package database paths are read (links, hard links included, are never
followed: one at such a path hides the lower file). The os-release that counts is the upper-most
layer's. dpkg records carry no licence (it lives in /usr/share/doc/*/copyright, not read here).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, BinaryIO

from packageurl import PackageURL

from dockyard.scanning.ecosystems import OS_RELEASE_PATHS, is_location, osrelease, parser_for
from dockyard.scanning.layers import Entry, walk
from dockyard.scanning.packages import DPKG, Distro, InventoryError, Limits, Package

__all__ = [
    "Distro",
    "Inventory",
    "InventoryError",
    "LayerFindings",
    "Limits",
    "Package",
    "merge_layers",
    "scan_layer",
]

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
_PARSE_ERRORS = (ValueError, LookupError, TypeError, UnicodeError, RecursionError)
_Key = tuple[str, str, str, str | None]


@dataclass(frozen=True)
class LayerFindings:
    """What one layer says, whatever image it is in."""

    digest: str
    files: dict[str, tuple[Package, ...]]  # package database file in this layer -> its packages
    whiteouts: frozenset[str]  # paths this layer deletes from the layers below
    opaque_dirs: frozenset[str]  # folders whose lower content this layer hides ("" is the root)
    os_release: dict[str, str] | None  # the layer's os-release, if it writes one

    def to_json(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "files": {
                path: [package.to_json() for package in packages]
                for path, packages in sorted(self.files.items())
            },
            "whiteouts": sorted(self.whiteouts),
            "opaque_dirs": sorted(self.opaque_dirs),
            "os_release": self.os_release,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LayerFindings:
        os_release = data.get("os_release")
        return cls(
            digest=str(data["digest"]),
            files={
                str(path): tuple(Package.from_json(item) for item in packages)
                for path, packages in data.get("files", {}).items()
            },
            whiteouts=frozenset(str(path) for path in data.get("whiteouts", [])),
            opaque_dirs=frozenset(str(path) for path in data.get("opaque_dirs", [])),
            os_release=None
            if os_release is None
            else {str(k): str(v) for k, v in os_release.items()},
        )


@dataclass(frozen=True)
class Inventory:
    packages: tuple[Package, ...]
    distro: Distro | None

    def to_json(self) -> dict[str, Any]:
        distro = self.distro
        return {
            "packages": [package.to_json() for package in self.packages],
            "distro": None
            if distro is None
            else {"id": distro.id, "version_id": distro.version_id},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Inventory:
        distro = data.get("distro")
        return cls(
            packages=tuple(Package.from_json(item) for item in data.get("packages", [])),
            distro=None if distro is None else Distro(str(distro["id"]), str(distro["version_id"])),
        )


class _LayerReader:
    """One pass over a layer's entries, collecting its findings."""

    def __init__(self, digest: str, limits: Limits) -> None:
        self.digest = digest
        self.limits = limits
        self.files: dict[str, tuple[Package, ...]] = {}
        self.whiteouts: set[str] = set()
        self.opaque_dirs: set[str] = set()
        self.os_release: dict[str, str] | None = None
        self.os_release_path: str | None = None
        self.packages = 0

    def visit(self, entry: Entry) -> None:
        path = entry.path
        parent, _, base = path.rpartition("/")
        if base == OPAQUE:
            self.opaque_dirs.add(parent)
        elif base.startswith(WHITEOUT):
            # `.wh..wh.*` other than the opaque marker are aufs's own bookkeeping, not deletions.
            if base != WHITEOUT and not base.startswith(WHITEOUT + WHITEOUT):
                self.whiteouts.add(f"{parent}/{base[len(WHITEOUT) :]}".lstrip("/"))
        elif entry.is_file and (parser := parser_for(path)) is not None:
            self._database(entry, parser)
        elif entry.is_file and path in OS_RELEASE_PATHS:
            self._os_release(entry)
        elif not entry.is_dir and is_location(path):
            # A link, device or file where a database or a package folder was: never followed,
            # it hides what the layers below have there.
            self.whiteouts.add(path)
            self.files.pop(path, None)

    def _database(self, entry: Entry, parser: Any) -> None:
        data = entry.read()
        try:
            packages = tuple(parser(entry.path, data, self.digest))
        except _PARSE_ERRORS:
            packages = ()  # unreadable: it still replaces the file of a lower layer
        self.packages += len(packages)
        if self.packages > self.limits.max_packages:
            raise InventoryError(f"the layer lists more than {self.limits.max_packages} packages")
        self.files[entry.path] = packages

    def _os_release(self, entry: Entry) -> None:
        # etc/os-release wins over usr/lib/os-release (the fallback os-release(5) names).
        if self.os_release_path == OS_RELEASE_PATHS[0] and entry.path != OS_RELEASE_PATHS[0]:
            return
        self.os_release = osrelease.parse(entry.read())
        self.os_release_path = entry.path

    def findings(self) -> LayerFindings:
        return LayerFindings(
            digest=self.digest,
            files=self.files,
            whiteouts=frozenset(self.whiteouts),
            opaque_dirs=frozenset(self.opaque_dirs),
            os_release=self.os_release,
        )


def scan_layer(digest: str, blob: BinaryIO, limits: Limits = Limits()) -> LayerFindings:
    """Read the layer blob (gzip or plain tar) once; InventoryError when it cannot or may not be."""
    reader = _LayerReader(digest, limits)
    for entry in walk(blob, limits):
        reader.visit(entry)
    return reader.findings()


def _under(paths: list[str], prefix: str) -> Iterable[str]:
    index = bisect.bisect_left(paths, prefix)
    while index < len(paths) and paths[index].startswith(prefix):
        yield paths[index]
        index += 1


def _delete(state: dict[str, tuple[Package, ...]], layer: LayerFindings) -> None:
    """Apply the layer's whiteouts and opaque folders to what the layers below left."""
    if not state or not (layer.whiteouts or layer.opaque_dirs):
        return
    paths = sorted(state)
    doomed: set[str] = set()
    for path in layer.whiteouts:
        if path in state:
            doomed.add(path)
        doomed.update(_under(paths, path + "/"))
    for folder in layer.opaque_dirs:
        doomed.update(_under(paths, folder + "/" if folder else ""))
    for path in doomed:
        del state[path]


def distro_of(os_release: dict[str, str] | None) -> Distro | None:
    if not os_release or not os_release.get("ID"):
        return None
    return Distro(id=os_release["ID"].lower(), version_id=os_release.get("VERSION_ID", ""))


def _is_ubuntu(os_release: dict[str, str] | None) -> bool:
    if not os_release:
        return False
    return os_release.get("ID", "").lower() == "ubuntu" or (
        "ubuntu" in os_release.get("ID_LIKE", "").lower().split()
    )


def _finish(package: Package, layer: str, ubuntu: bool, distro: Distro | None) -> Package:
    """The package as the image has it: its layer, and for OS packages its distribution."""
    ecosystem = package.ecosystem
    if ecosystem not in (DPKG, "Alpine"):
        return replace(package, layer=layer)
    url = PackageURL.from_string(package.purl)
    qualifiers = dict(url.qualifiers) if isinstance(url.qualifiers, dict) else {}
    if distro is not None and distro.version_id:
        qualifiers["distro"] = f"{distro.id}-{distro.version_id}"
    namespace = url.namespace
    if ecosystem == DPKG:
        ecosystem = "Ubuntu" if ubuntu else "Debian"
        namespace = ecosystem.lower()
    purl = PackageURL(url.type, namespace, url.name, url.version, qualifiers).to_string()
    return replace(package, ecosystem=ecosystem, purl=purl, layer=layer)


def merge_layers(layers: Sequence[LayerFindings]) -> Inventory:
    """The image's inventory from its layers' findings, bottom layer first."""
    state: dict[str, tuple[Package, ...]] = {}
    since: dict[_Key, int] = {}
    os_release: dict[str, str] | None = None
    for index, layer in enumerate(layers):
        _delete(state, layer)
        state.update(layer.files)
        if layer.os_release is not None:
            os_release = layer.os_release
        present = {package.key for packages in state.values() for package in packages}
        since = {key: since.get(key, index) for key in present}
    distro = distro_of(os_release)
    ubuntu = _is_ubuntu(os_release)
    chosen: dict[_Key, Package] = {}
    for path in sorted(state):
        for package in state[path]:
            if package.key not in chosen:
                digest = layers[since[package.key]].digest
                chosen[package.key] = _finish(package, digest, ubuntu, distro)
    packages = sorted(chosen.values(), key=lambda p: (*p.key[:3], p.binary or ""))
    return Inventory(packages=tuple(packages), distro=distro)
