"""A small OSV bundle of real record shapes for the fixture images of `tests.fakes.scan_images`,
and the findings a correct scan of each image reports against it (written out by hand here,
not computed by the code under test).

`write_zip`, `write_folder` and `write_tar` write the bundle as osv.dev publishes it (one record
per `<id>.json`). `UPDATE_RECORDS` is a second import's extra record (the Debian image gains a
critical finding), for re-check tests.

What the bundle holds, against the two images:
- reported: a critical of CVSS 9.8 (Alpine zlib), criticals of 7.x, majors, minors (a CVSS 3.1
  and a CVSS 4.0 vector), records without any score (counted as major with a note), a `SEMVER`
  range (npm), a `last_affected` range (holds at the last affected version itself), a
  `versions[]`-only record (no fixed version), one CVE affecting a source package installed as
  two binaries (Debian openssl and libssl3: reported once);
- not reported: a package at exactly the fixed version (Debian zlib, an epoch version), a
  `last_affected` below the installed version, a record for Debian 11, one for Ubuntu 22.04 LTS,
  records of whited-out packages (requests, removed by a `.wh.` file; pip, under an opaque folder),
  a withdrawn record, a Go record and a GIT-only range (ecosystems the scanner does not match).
"""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

V31 = "CVSS:3.1/"
CRITICAL_98 = V31 + "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 9.8
CRITICAL_88 = V31 + "AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H"  # 8.8
CRITICAL_78 = V31 + "AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"  # 7.8
CRITICAL_72 = V31 + "AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H"  # 7.2
MAJOR_55 = V31 + "AV:L/AC:L/PR:L/UI:N/S:U/C:N/I:N/A:H"  # 5.5
MAJOR_54 = V31 + "AV:N/AC:L/PR:L/UI:R/S:C/C:L/I:L/A:N"  # 5.4
MAJOR_53 = V31 + "AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L"  # 5.3
MINOR_18 = V31 + "AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"  # 1.8
MINOR_V4_10 = "CVSS:4.0/AV:L/AC:H/AT:P/PR:H/UI:A/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N"  # 1.0


def _record(
    vuln_id: str,
    summary: str,
    ecosystem: str,
    name: str,
    *,
    ranges: list[dict[str, Any]] | None = None,
    versions: list[str] | None = None,
    vector: str | None = None,
    aliases: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    purl_type = {"Debian": "deb/debian", "Alpine": "apk/alpine", "PyPI": "pypi", "npm": "npm"}
    package: dict[str, Any] = {"ecosystem": ecosystem, "name": name}
    family = ecosystem.split(":")[0]
    if family in purl_type:
        package["purl"] = f"pkg:{purl_type[family]}/{name.replace('@', '%40')}"
    affected: dict[str, Any] = {"package": package}
    if ranges is not None:
        affected["ranges"] = ranges
    if versions is not None:
        affected["versions"] = versions
    record: dict[str, Any] = {
        "schema_version": "1.6.0",
        "id": vuln_id,
        "modified": "2024-06-01T00:00:00Z",
        "published": "2024-01-01T00:00:00Z",
        "aliases": aliases or [],
        "summary": summary,
        "details": summary + ".\n\nMore details in the advisory.",
        "affected": [affected],
        "references": [{"type": "ADVISORY", "url": f"https://osv.dev/vulnerability/{vuln_id}"}],
    }
    if vector:
        kind = "CVSS_V4" if vector.startswith("CVSS:4") else "CVSS_V3"
        record["severity"] = [{"type": kind, "score": vector}]
    record.update(extra)
    return record


def _eco(*events: dict[str, str]) -> list[dict[str, Any]]:
    return [{"type": "ECOSYSTEM", "events": list(events)}]


def _semver(*events: dict[str, str]) -> list[dict[str, Any]]:
    return [{"type": "SEMVER", "events": list(events)}]


ZERO = {"introduced": "0"}

DEBIAN_RECORDS = [
    _record(
        "DEBIAN-CVE-2023-4911",
        "glibc: buffer overflow in ld.so GLIBC_TUNABLES",
        "Debian:12",
        "glibc",
        ranges=_eco(ZERO, {"fixed": "2.36-9+deb12u3"}),
        vector=CRITICAL_78,
        upstream=["CVE-2023-4911"],
    ),
    _record(  # Debian records carry no severity: counted as major, with a note
        "DEBIAN-CVE-2024-2961",
        "glibc: out-of-bounds write in iconv ISO-2022-CN-EXT",
        "Debian:12",
        "glibc",
        ranges=_eco(ZERO, {"fixed": "2.36-9+deb12u7"}),
        upstream=["CVE-2024-2961"],
    ),
    _record(  # openssl is installed as openssl and libssl3: one finding
        "DEBIAN-CVE-2023-5678",
        "openssl: excessive time spent in DH check",
        "Debian:12",
        "openssl",
        ranges=_eco(ZERO, {"fixed": "3.0.13-1~deb12u1"}),
        vector=MAJOR_53,
    ),
    _record(  # installed at exactly the fixed version (with an epoch): not reported
        "DEBIAN-CVE-2023-45853",
        "zlib: integer overflow in MiniZip",
        "Debian:12",
        "zlib",
        ranges=_eco(ZERO, {"fixed": "1:1.2.13.dfsg-1"}),
        vector=CRITICAL_98,
    ),
    _record(  # another release: not reported on Debian 12
        "DLA-3685-1",
        "zlib: security update",
        "Debian:11",
        "zlib",
        ranges=_eco(ZERO, {"fixed": "1:1.2.13.dfsg-2"}),
        vector=CRITICAL_98,
    ),
    _record(  # another distribution: not reported
        "UBUNTU-CVE-2023-45853",
        "zlib: integer overflow in MiniZip",
        "Ubuntu:22.04:LTS",
        "zlib",
        ranges=_eco(ZERO, {"fixed": "1:1.2.13.dfsg-9"}),
        severity=[{"type": "Ubuntu", "score": "low"}],
    ),
]

PYPI_RECORDS = [
    _record(
        "GHSA-h5c8-rqwp-cp95",
        "Jinja vulnerable to HTML attribute injection (xmlattr)",
        "PyPI",
        "jinja2",
        ranges=_eco(ZERO, {"fixed": "3.1.3"}),
        vector=MAJOR_54,
        aliases=["CVE-2024-22195"],
        database_specific={"severity": "MODERATE"},
    ),
    _record(  # requests is whited out in the Debian image: not reported
        "GHSA-x84v-xcm2-53pg",
        "Insufficiently Protected Credentials in Requests",
        "PyPI",
        "requests",
        ranges=_eco(ZERO, {"fixed": "2.20.0"}),
        vector=CRITICAL_98,
        aliases=["CVE-2018-18074"],
    ),
    _record(  # versions[] only: reported, no fixed version
        "PYSEC-2099-1",
        "MarkupSafe: test advisory listing versions only",
        "PyPI",
        "MarkupSafe",
        versions=["2.1.2", "2.1.3"],
        vector=MINOR_18,
    ),
    _record(
        "GHSA-cx63-2mw6-8hw5",
        "setuptools vulnerable to Command Injection via package URL",
        "PyPI",
        "setuptools",
        ranges=_eco(ZERO, {"fixed": "70.0.0"}),
        vector=CRITICAL_88,
        aliases=["CVE-2024-6345"],
    ),
    _record(  # pip is under an opaque folder in the Alpine image: not reported
        "PYSEC-2099-2",
        "pip: test advisory for a package an opaque folder removed",
        "PyPI",
        "pip",
        versions=["23.3.1"],
        vector=MAJOR_55,
    ),
    _record(  # withdrawn: never reported
        "PYSEC-2099-3",
        "jinja2: withdrawn test advisory",
        "PyPI",
        "jinja2",
        ranges=_eco(ZERO),
        vector=CRITICAL_98,
        withdrawn="2024-02-01T00:00:00Z",
    ),
]

NPM_RECORDS = [
    _record(
        "GHSA-35jh-r3h4-6jhm",
        "Command Injection in lodash",
        "npm",
        "lodash",
        ranges=_semver(ZERO, {"fixed": "4.17.21"}),
        vector=CRITICAL_72,
        aliases=["CVE-2021-23337"],
        database_specific={"severity": "HIGH"},
    ),
    _record(
        "GHSA-29mw-wpgm-hmr9",
        "Regular Expression Denial of Service (ReDoS) in lodash",
        "npm",
        "lodash",
        ranges=_semver({"introduced": "4.0.0"}, {"fixed": "4.17.21"}),
        vector=MAJOR_53,
        aliases=["CVE-2020-28500"],
    ),
    _record(  # last_affected equal to the installed version: reported, no fix known
        "GHSA-2099-babel-0001",
        "@babel/core: test advisory, last affected 7.22.5",
        "npm",
        "@babel/core",
        ranges=_semver({"introduced": "7.0.0"}, {"last_affected": "7.22.5"}),
        vector=MINOR_V4_10,
    ),
    _record(  # last_affected below the installed version: not reported
        "GHSA-2099-babel-0002",
        "@babel/core: test advisory, last affected 7.22.4",
        "npm",
        "@babel/core",
        ranges=_semver({"introduced": "7.0.0"}, {"last_affected": "7.22.4"}),
        vector=CRITICAL_98,
    ),
]

ALPINE_RECORDS = [
    _record(
        "ALPINE-CVE-2023-42363",
        "busybox: use-after-free in awk",
        "Alpine:v3.19",
        "busybox",
        ranges=_eco(ZERO, {"fixed": "1.36.1-r16"}),
        vector=MAJOR_55,
    ),
    _record(  # no severity at all: major, with a note
        "ALPINE-CVE-2025-26519",
        "musl: iconv out-of-bounds write for EUC-KR",
        "Alpine:v3.19",
        "musl",
        ranges=_eco(ZERO, {"fixed": "1.2.4-r3"}),
    ),
    _record(  # libssl3 is removed but libcrypto3 (origin openssl) remains: reported
        "ALPINE-CVE-2024-0727",
        "openssl: NULL dereference in PKCS12 parsing",
        "Alpine:v3.19",
        "openssl",
        ranges=_eco(ZERO, {"fixed": "3.1.4-r5"}),
        vector=MAJOR_55,
    ),
    _record(
        "ALPINE-CVE-2023-45853",
        "zlib: integer overflow in MiniZip",
        "Alpine:v3.19",
        "zlib",
        ranges=_eco(ZERO, {"fixed": "1.3.1-r0"}),
        vector=CRITICAL_98,
    ),
]

OTHER_RECORDS = [
    _record(  # an ecosystem the scanner does not match: imported, never matched
        "GO-2024-2687",
        "HTTP/2 CONTINUATION flood in net/http",
        "Go",
        "golang.org/x/net",
        ranges=_semver(ZERO, {"fixed": "0.23.0"}),
        vector=MAJOR_53,
    ),
    {  # a GIT-only range: no version ranges to match
        "id": "OSV-2099-1",
        "modified": "2024-06-01T00:00:00Z",
        "summary": "test advisory with a GIT range only",
        "affected": [
            {
                "package": {"ecosystem": "Debian:12", "name": "base-files"},
                "ranges": [
                    {
                        "type": "GIT",
                        "repo": "https://example.invalid/base-files.git",
                        "events": [{"introduced": "0"}, {"fixed": "a" * 40}],
                    }
                ],
            }
        ],
    },
]

RECORDS = DEBIAN_RECORDS + PYPI_RECORDS + NPM_RECORDS + ALPINE_RECORDS + OTHER_RECORDS
WITHDRAWN = 1

UPDATE_RECORDS = [
    _record(
        "DEBIAN-CVE-2024-9999",
        "base-files: test advisory added by a database update",
        "Debian:12",
        "base-files",
        ranges=_eco(ZERO, {"fixed": "12.4+deb12u6"}),
        vector=CRITICAL_98,
    ),
]


@dataclass(frozen=True)
class Expected:
    vuln_id: str
    ecosystem: str
    name: str  # the source package (what advisories name)
    version: str  # installed
    severity: str
    cvss: float | None
    fixed_version: str | None


EXPECTED_DEBIAN = (
    Expected(
        "DEBIAN-CVE-2023-4911", "Debian", "glibc", "2.36-9", "critical", 7.8, "2.36-9+deb12u3"
    ),
    Expected("DEBIAN-CVE-2024-2961", "Debian", "glibc", "2.36-9", "major", None, "2.36-9+deb12u7"),
    Expected(
        "DEBIAN-CVE-2023-5678",
        "Debian",
        "openssl",
        "3.0.11-1~deb12u2",
        "major",
        5.3,
        "3.0.13-1~deb12u1",
    ),
    Expected("GHSA-h5c8-rqwp-cp95", "PyPI", "jinja2", "3.1.2", "major", 5.4, "3.1.3"),
    Expected("PYSEC-2099-1", "PyPI", "markupsafe", "2.1.3", "minor", 1.8, None),
    Expected("GHSA-35jh-r3h4-6jhm", "npm", "lodash", "4.17.20", "critical", 7.2, "4.17.21"),
    Expected("GHSA-29mw-wpgm-hmr9", "npm", "lodash", "4.17.20", "major", 5.3, "4.17.21"),
    Expected("GHSA-2099-babel-0001", "npm", "@babel/core", "7.22.5", "minor", 1.0, None),
)
EXPECTED_DEBIAN_AFTER_UPDATE = (
    *EXPECTED_DEBIAN,
    Expected(
        "DEBIAN-CVE-2024-9999",
        "Debian",
        "base-files",
        "12.4+deb12u5",
        "critical",
        9.8,
        "12.4+deb12u6",
    ),
)
EXPECTED_ALPINE = (
    Expected(
        "ALPINE-CVE-2023-42363", "Alpine", "busybox", "1.36.1-r15", "major", 5.5, "1.36.1-r16"
    ),
    Expected("ALPINE-CVE-2025-26519", "Alpine", "musl", "1.2.4-r2", "major", None, "1.2.4-r3"),
    Expected("ALPINE-CVE-2024-0727", "Alpine", "openssl", "3.1.4-r1", "major", 5.5, "3.1.4-r5"),
    Expected("ALPINE-CVE-2023-45853", "Alpine", "zlib", "1.3-r2", "critical", 9.8, "1.3.1-r0"),
    Expected("GHSA-cx63-2mw6-8hw5", "PyPI", "setuptools", "69.0.0", "critical", 8.8, "70.0.0"),
)


def counts(expected: tuple[Expected, ...]) -> dict[str, int]:
    """{"critical": n, "major": n, "minor": n} as SCAN_COMPLETED and the results API count."""
    by = Counter(e.severity for e in expected)
    return {"critical": by["critical"], "major": by["major"], "minor": by["minor"]}


def _files(records: list[dict[str, Any]]) -> list[tuple[str, bytes]]:
    return [(f"{r['id']}.json", json.dumps(r, indent=1).encode()) for r in records]


def write_zip(path: Path, records: list[dict[str, Any]] | None = None) -> Path:
    """An osv.dev-style `all.zip` (one `<id>.json` per record at the top)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in _files(RECORDS if records is None else records):
            archive.writestr(name, data)
    return path


def write_folder(path: Path, records: list[dict[str, Any]] | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name, data in _files(RECORDS if records is None else records):
        (path / name).write_bytes(data)
    return path


def write_tar(path: Path, records: list[dict[str, Any]] | None = None) -> Path:
    """A tar.gz with the records under a folder (`osv/<id>.json`)."""
    with tarfile.open(path, "w:gz") as archive:
        for name, data in _files(RECORDS if records is None else records):
            info = tarfile.TarInfo(f"osv/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path
