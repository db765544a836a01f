"""npm: the `package.json` at the root of each package under a `node_modules` folder.

Only `node_modules/<name>/package.json` and `node_modules/@scope/<name>/package.json` count: a
package.json elsewhere (an application's own, or a sub-folder's inside a package) is no package.
"""

from __future__ import annotations

import json
from typing import Any

from packageurl import PackageURL

from dockyard.scanning.packages import Package, clean_license


def _package_dir(parts: list[str]) -> bool:
    """Whether `parts` (a path's components) name a package folder right under node_modules."""
    if len(parts) >= 2 and parts[-2] == "node_modules":
        return not parts[-1].startswith("@")
    return len(parts) >= 3 and parts[-3] == "node_modules" and parts[-2].startswith("@")


def matches(path: str) -> bool:
    parts = path.split("/")
    return parts[-1] == "package.json" and _package_dir(parts[:-1])


def is_location(path: str) -> bool:
    parts = path.split("/")
    return (
        parts[-1] == "node_modules"
        or _package_dir(parts)
        or (len(parts) >= 2 and parts[-2] == "node_modules" and parts[-1].startswith("@"))
    )


def _license(doc: dict[str, Any]) -> str | None:
    value = doc.get("license")
    if isinstance(value, dict):
        value = value.get("type")
    if isinstance(value, str):
        return clean_license(value)
    listed = doc.get("licenses")
    if isinstance(listed, list):
        names = [item.get("type") if isinstance(item, dict) else item for item in listed]
        return clean_license(" OR ".join(name for name in names if isinstance(name, str)))
    return None


def purl(name: str, version: str) -> str:
    scope, _, bare = name.rpartition("/")
    return PackageURL("npm", scope or None, bare, version).to_string()


def parse(path: str, data: bytes, layer: str) -> list[Package]:
    try:
        doc = json.loads(data.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return []
    if not isinstance(doc, dict):
        return []
    name, version = doc.get("name"), doc.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
        return []
    return [
        Package(
            ecosystem="npm",
            name=name,
            version=version,
            purl=purl(name, version),
            license=_license(doc),
            layer=layer,
        )
    ]
