"""Debian and Ubuntu: `var/lib/dpkg/status`, distroless `var/lib/dpkg/status.d/*`, python-debian.

A package is named by its *source* package (what Debian and Ubuntu advisories name), with the
source version when `Source:` gives one (`Source: glibc (2.36-9)`), else the binary's version;
the binary's name is kept in `binary`. The ecosystem is left as `dpkg`: merge_layers names it
Debian or Ubuntu from os-release and adds the purl's `distro` qualifier.
"""

from __future__ import annotations

import re

from debian.deb822 import Deb822
from packageurl import PackageURL

from dockyard.scanning.packages import DPKG, Package

STATUS = "var/lib/dpkg/status"
STATUS_D = "var/lib/dpkg/status.d/"
FIELDS = ["Package", "Version", "Architecture", "Source", "Status"]
# The third word of Status: the package's files are on disk.
INSTALLED = frozenset({"installed", "triggers-awaited", "triggers-pending"})
_SOURCE = re.compile(r"^\s*(\S+)(?:\s*\(\s*([^)\s]+)\s*\))?")
_LOCATIONS = frozenset({"var/lib/dpkg", "var/lib/dpkg/status.d"})


def matches(path: str) -> bool:
    if path == STATUS:
        return True
    if not path.startswith(STATUS_D):
        return False
    name = path[len(STATUS_D) :]
    return "/" not in name and not name.endswith(".md5sums")


def is_location(path: str) -> bool:
    return path in _LOCATIONS


def _installed(status: str | None, distroless: bool) -> bool:
    if status is None:
        return distroless  # status.d entries carry no Status: they are installed
    words = status.split()
    return len(words) == 3 and words[2] in INSTALLED


def source_of(binary: str, version: str, source: str | None) -> tuple[str, str]:
    """(source name, source version) from a binary package's `Source:` field."""
    if not source:
        return binary, version
    found = _SOURCE.match(source)
    if found is None:
        return binary, version
    return found.group(1), found.group(2) or version


def purl(binary: str, version: str, arch: str | None, source: str, vendor: str = "debian") -> str:
    qualifiers = {"arch": arch} if arch else {}
    if source != binary:
        qualifiers["upstream"] = source
    return PackageURL("deb", vendor, binary, version, qualifiers).to_string()


def parse(path: str, data: bytes, layer: str) -> list[Package]:
    distroless = path != STATUS
    lines = data.decode("utf-8", "replace").splitlines()
    found = []
    for para in Deb822.iter_paragraphs(lines, fields=FIELDS, use_apt_pkg=False):
        binary, version = para.get("Package"), para.get("Version")
        if not binary or not version or not _installed(para.get("Status"), distroless):
            continue
        binary, version = binary.strip(), version.strip()
        name, source_version = source_of(binary, version, para.get("Source"))
        arch = (para.get("Architecture") or "").strip() or None
        found.append(
            Package(
                ecosystem=DPKG,
                name=name,
                version=source_version,
                purl=purl(binary, version, arch, name),
                license=None,
                layer=layer,
                binary=binary if binary != name else None,
            )
        )
    return found
