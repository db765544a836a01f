"""Python: `*.dist-info/METADATA`, `*.egg-info/PKG-INFO` and legacy single-file `*.egg-info`.

The core metadata is email-header formatted. Names are normalised as PEP 503 says; the licence
is `License-Expression`, else the `License ::` classifiers, else a one-line `License` field.
"""

from __future__ import annotations

from email.parser import HeaderParser

from packageurl import PackageURL
from packaging.utils import canonicalize_name

from dockyard.scanning.packages import Package, clean_license

_LICENSE_LINE_MAX = 100


def matches(path: str) -> bool:
    parent, _, base = path.rpartition("/")
    if base == "METADATA":
        return parent.endswith(".dist-info")
    if base == "PKG-INFO":
        return parent.endswith(".egg-info")
    return base.endswith(".egg-info")  # a legacy egg-info written as one file


def is_location(path: str) -> bool:
    return path.endswith((".dist-info", ".egg-info"))


def _license(headers: dict[str, list[str]]) -> str | None:
    expression = headers.get("license-expression")
    if expression:
        return clean_license(expression[0])
    classified = [
        value.split("::")[-1].strip()
        for value in headers.get("classifier", [])
        if value.startswith("License ::") and value.count("::") >= 2
    ]
    if classified:
        return clean_license(", ".join(classified))
    field = (headers.get("license") or [""])[0].strip()
    if field and "\n" not in field and len(field) <= _LICENSE_LINE_MAX:
        return clean_license(field)
    return None


def parse(path: str, data: bytes, layer: str) -> list[Package]:
    text = data.decode("utf-8", "replace")
    message = HeaderParser().parsestr(text, headersonly=True)
    headers: dict[str, list[str]] = {}
    for key, value in message.items():
        headers.setdefault(key.lower(), []).append(str(value))
    name = (headers.get("name") or [""])[0].strip()
    version = (headers.get("version") or [""])[0].strip()
    if not name or not version:
        return []
    normalised = canonicalize_name(name)
    return [
        Package(
            ecosystem="PyPI",
            name=normalised,
            version=version,
            purl=PackageURL("pypi", None, normalised, version).to_string(),
            license=_license(headers),
            layer=layer,
        )
    ]
