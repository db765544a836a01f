"""Alpine: `lib/apk/db/installed` (`usr/lib/apk/db/installed` on a merged /usr), blocks of
`X:value` lines separated by blank lines.

A package is named by its origin (`o:`, the source package Alpine's advisories name), its own
name (`P:`) kept in `binary` when it differs. merge_layers adds the purl's `distro` qualifier.
"""

from __future__ import annotations

from packageurl import PackageURL

from dockyard.scanning.packages import Package, clean_license

INSTALLED = frozenset({"lib/apk/db/installed", "usr/lib/apk/db/installed"})
_LOCATIONS = frozenset({"lib/apk", "lib/apk/db", "usr/lib/apk", "usr/lib/apk/db"})


def matches(path: str) -> bool:
    return path in INSTALLED


def is_location(path: str) -> bool:
    return path in _LOCATIONS


def _blocks(text: str) -> list[dict[str, str]]:
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
            current = {}
        elif len(line) >= 2 and line[1] == ":":
            current.setdefault(line[0], line[2:].strip())
    if current:
        blocks.append(current)
    return blocks


def purl(binary: str, version: str, arch: str | None, origin: str) -> str:
    qualifiers = {"arch": arch} if arch else {}
    if origin != binary:
        qualifiers["upstream"] = origin
    return PackageURL("apk", "alpine", binary, version, qualifiers).to_string()


def parse(path: str, data: bytes, layer: str) -> list[Package]:
    found = []
    for block in _blocks(data.decode("utf-8", "replace")):
        binary, version = block.get("P"), block.get("V")
        if not binary or not version:
            continue
        origin = block.get("o") or binary
        found.append(
            Package(
                ecosystem="Alpine",
                name=origin,
                version=version,
                purl=purl(binary, version, block.get("A") or None, origin),
                license=clean_license(block.get("L")),
                layer=layer,
                binary=binary if binary != origin else None,
            )
        )
    return found
