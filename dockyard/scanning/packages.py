"""The inventory's values: a package, a distribution, the limits a layer is read under, its error.

`dockyard.scanning.inventory` re-exports them; the ecosystem parsers build on this module alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The ecosystem the dpkg parser tags its packages with inside one layer: whether they are "Debian"
# or "Ubuntu" packages depends on the image's os-release, which may sit in another layer, so
# merge_layers decides (and adds the purl's `distro` qualifier).
DPKG = "dpkg"
MAX_LICENSE_CHARS = 256


class InventoryError(Exception):
    """The layer's content cannot be inventoried (bad or hostile); str(error) says why."""


@dataclass(frozen=True)
class Package:
    ecosystem: str  # OSV ecosystem family: "Debian", "Ubuntu", "Alpine", "PyPI", "npm"
    name: str  # Debian/Ubuntu/Alpine: the source package; PyPI: PEP 503 normalised
    version: str
    purl: str
    license: str | None
    layer: str  # digest of the layer that introduced it
    binary: str | None = None  # the binary package's name when it differs from `name`

    @property
    def key(self) -> tuple[str, str, str, str | None]:
        """What makes two packages the same one (the purl and licence follow from it)."""
        return (self.ecosystem, self.name, self.version, self.binary)

    def to_json(self) -> dict[str, Any]:
        return {
            "ecosystem": self.ecosystem,
            "name": self.name,
            "version": self.version,
            "purl": self.purl,
            "license": self.license,
            "layer": self.layer,
            "binary": self.binary,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Package:
        return cls(
            ecosystem=str(data["ecosystem"]),
            name=str(data["name"]),
            version=str(data["version"]),
            purl=str(data["purl"]),
            license=None if data.get("license") is None else str(data["license"]),
            layer=str(data["layer"]),
            binary=None if data.get("binary") is None else str(data["binary"]),
        )


@dataclass(frozen=True)
class Distro:
    id: str  # os-release ID: "debian", "ubuntu", "alpine"
    version_id: str  # os-release VERSION_ID: "12", "22.04", "3.19.1" ("" when the file has none)


@dataclass(frozen=True)
class Limits:
    """What one layer may cost. Every bound, once passed, is an InventoryError saying which."""

    max_layer_bytes: int = 10 * 1024**3  # the layer's tar stream, decompressed
    max_entries: int = 1_000_000  # tar members, headers included
    max_file_bytes: int = 16 * 1024**2  # one package database file (status, METADATA, ...)
    max_seconds: float = 300.0  # the whole pass over the layer
    max_header_bytes: int = 1024**2  # one pax or GNU long-name header
    max_packages: int = 200_000  # packages found in the layer

    @classmethod
    def from_settings(cls, settings: Any) -> Limits:
        """The limits `dockyard.config.Settings` sets (DOCKYARD_SCANNING_LAYER_MAX_* ...)."""
        return cls(
            max_layer_bytes=settings.scanning_layer_max_bytes,
            max_entries=settings.scanning_layer_max_entries,
            max_file_bytes=settings.scanning_max_database_file_bytes,
            max_seconds=settings.scanning_layer_max_seconds,
        )


def clean_license(value: str | None) -> str | None:
    """A licence as metadata states it, one line, bounded; None when empty."""
    if value is None:
        return None
    text = " ".join(value.split())
    if not text or text.upper() in {"UNKNOWN", "NONE"}:
        return None
    return text[:MAX_LICENSE_CHARS]
