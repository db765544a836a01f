"""Images to scan: real OCI layouts (for skopeo to push) whose layers hold package databases.

`build_debian_image` and `build_alpine_image` write a layout and return it with the inventory a
correct scan finds (written out by hand here, not computed by the code under test) and the
packages a whiteout, an opaque folder or a rewritten database removed on the way up.

Debian 12 (five layers):
  0  usr/lib/os-release (etc/os-release is a link to it, as in Debian), dpkg status: libc6 (source
     glibc 2.36-9), zlib1g (`Source: zlib (1:1.2.13.dfsg-1)`), base-files, and a removed package
  1  apt-get install openssl: the status file again, plus openssl and libssl3 (source openssl)
  2  Python: Jinja2 3.1.2 and requests 2.19.0 (dist-info), MarkupSafe 2.1.3 (egg-info)
  3  npm: lodash 4.17.20 and @babel/core 7.22.5 (plus an app package.json and a nested one)
  4  a whiteout deleting requests-2.19.0.dist-info
Alpine 3.19 (three layers):
  0  etc/os-release, apk db: musl, busybox, libcrypto3 and libssl3 (origin openssl); pip 23.3.1
  1  apk add zlib, apk del libssl3: the installed database rewritten
  2  site-packages made opaque, setuptools 69.0.0 installed in it: pip is gone
"""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dockyard.scanning.inventory import Distro, Inventory, Package
from tests.fakes.oci import BuiltImage, build_image, sha256


@dataclass(frozen=True)
class Link:
    target: str


@dataclass(frozen=True)
class Dir:
    pass


def layer(entries: Sequence[tuple[str, bytes | Link | Dir]], *, compress: bool = True) -> bytes:
    """A layer tar (gzipped unless told) with its entries in the order given, reproducibly."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 0
            if isinstance(content, Link):
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, content.target, 0o777
                tar.addfile(info)
            elif isinstance(content, Dir):
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(content), 0o644
                tar.addfile(info, io.BytesIO(content))
    if not compress:
        return raw.getvalue()
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def dpkg_entry(
    package: str, version: str, source: str | None = None, status: str = "install ok installed"
) -> str:
    lines = [
        f"Package: {package}",
        f"Status: {status}",
        "Priority: optional",
        "Architecture: amd64",
    ]
    if source:
        lines.append(f"Source: {source}")
    lines += [f"Version: {version}", f"Description: {package}", " the package's long description"]
    return "\n".join(lines) + "\n"


def apk_entry(name: str, version: str, origin: str, license: str) -> str:
    return f"C:Q1abc=\nP:{name}\nV:{version}\nA:x86_64\nS:1000\nL:{license}\no:{origin}\n"


def metadata(name: str, version: str, extra: str = "") -> bytes:
    return (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{extra}\nBody text.\n".encode()
    )


def npm(name: str, version: str, license: str = "MIT") -> bytes:
    return f'{{"name": "{name}", "version": "{version}", "license": "{license}"}}'.encode()


@dataclass
class ScanImage:
    image: BuiltImage
    expected: Inventory  # what a scan of the image finds
    removed: tuple[Package, ...]  # packages present in a lower layer, gone at the top

    @property
    def layout(self) -> Path:
        return self.image.layout


DEBIAN_OS_RELEASE = (
    b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
    b'VERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n'
)
SITE = "usr/lib/python3/dist-packages"
BASE_STATUS = [
    dpkg_entry("base-files", "12.4+deb12u5"),
    dpkg_entry("libc6", "2.36-9+deb12u4", "glibc (2.36-9)"),
    dpkg_entry("zlib1g", "1:1.2.13.dfsg-1", "zlib (1:1.2.13.dfsg-1)"),
    dpkg_entry("oldpkg", "1.0-1", status="deinstall ok config-files"),
]
OPENSSL_STATUS = [
    dpkg_entry("openssl", "3.0.11-1~deb12u2"),
    dpkg_entry("libssl3", "3.0.11-1~deb12u2", "openssl"),
]


def _debian_layers() -> list[bytes]:
    return [
        layer(
            [
                ("etc/os-release", Link("../usr/lib/os-release")),
                ("usr/lib/os-release", DEBIAN_OS_RELEASE),
                ("var/lib/dpkg/status", "\n".join(BASE_STATUS).encode()),
            ]
        ),
        layer([("var/lib/dpkg/status", "\n".join(BASE_STATUS + OPENSSL_STATUS).encode())]),
        layer(
            [
                (
                    f"{SITE}/Jinja2-3.1.2.dist-info/METADATA",
                    metadata(
                        "Jinja2", "3.1.2", "Classifier: License :: OSI Approved :: BSD License"
                    ),
                ),
                (
                    f"{SITE}/requests-2.19.0.dist-info/METADATA",
                    metadata("requests", "2.19.0", "License: Apache 2.0"),
                ),
                (
                    f"{SITE}/MarkupSafe-2.1.3.egg-info/PKG-INFO",
                    metadata("MarkupSafe", "2.1.3", "License-Expression: BSD-3-Clause"),
                ),
            ]
        ),
        layer(
            [
                ("app/package.json", npm("my-app", "1.0.0")),
                ("app/node_modules/lodash/package.json", npm("lodash", "4.17.20")),
                ("app/node_modules/lodash/fp/package.json", b'{"main": "../fp.js"}'),
                ("app/node_modules/@babel/core/package.json", npm("@babel/core", "7.22.5")),
            ]
        ),
        layer([(f"{SITE}/.wh.requests-2.19.0.dist-info", b"")]),
    ]


def build_debian_image(layout: Path, tag: str = "latest") -> ScanImage:
    blobs = _debian_layers()
    d = [sha256(blob) for blob in blobs]
    image = build_image(layout, blobs, tag=tag)
    q = "?arch=amd64&distro=debian-12"
    packages = (
        Package(
            "Debian",
            "base-files",
            "12.4+deb12u5",
            f"pkg:deb/debian/base-files@12.4%2Bdeb12u5{q}",
            None,
            d[0],
        ),
        Package(
            "Debian",
            "glibc",
            "2.36-9",
            f"pkg:deb/debian/libc6@2.36-9%2Bdeb12u4{q}&upstream=glibc",
            None,
            d[0],
            "libc6",
        ),
        Package(
            "Debian",
            "openssl",
            "3.0.11-1~deb12u2",
            f"pkg:deb/debian/openssl@3.0.11-1~deb12u2{q}",
            None,
            d[1],
        ),
        Package(
            "Debian",
            "openssl",
            "3.0.11-1~deb12u2",
            f"pkg:deb/debian/libssl3@3.0.11-1~deb12u2{q}&upstream=openssl",
            None,
            d[1],
            "libssl3",
        ),
        Package(
            "Debian",
            "zlib",
            "1:1.2.13.dfsg-1",
            f"pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1{q}&upstream=zlib",
            None,
            d[0],
            "zlib1g",
        ),
        Package("PyPI", "jinja2", "3.1.2", "pkg:pypi/jinja2@3.1.2", "BSD License", d[2]),
        Package("PyPI", "markupsafe", "2.1.3", "pkg:pypi/markupsafe@2.1.3", "BSD-3-Clause", d[2]),
        Package("npm", "@babel/core", "7.22.5", "pkg:npm/%40babel/core@7.22.5", "MIT", d[3]),
        Package("npm", "lodash", "4.17.20", "pkg:npm/lodash@4.17.20", "MIT", d[3]),
    )
    removed = (
        Package("PyPI", "requests", "2.19.0", "pkg:pypi/requests@2.19.0", "Apache 2.0", d[2]),
    )
    return ScanImage(image, Inventory(packages, Distro("debian", "12")), removed)


ALPINE_OS_RELEASE = (
    b'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME="Alpine Linux v3.19"\n'
)
ALPINE_SITE = "usr/lib/python3.11/site-packages"
ALPINE_BASE = [
    apk_entry("musl", "1.2.4-r2", "musl", "MIT"),
    apk_entry("busybox", "1.36.1-r15", "busybox", "GPL-2.0-only"),
    apk_entry("libcrypto3", "3.1.4-r1", "openssl", "Apache-2.0"),
]
ALPINE_SSL = apk_entry("libssl3", "3.1.4-r1", "openssl", "Apache-2.0")
ALPINE_ZLIB = apk_entry("zlib", "1.3-r2", "zlib", "Zlib")


def _alpine_layers() -> list[bytes]:
    return [
        layer(
            [
                ("etc/os-release", ALPINE_OS_RELEASE),
                ("lib/apk/db/installed", "\n".join([*ALPINE_BASE, ALPINE_SSL]).encode()),
                (f"{ALPINE_SITE}/pip-23.3.1.dist-info/METADATA", metadata("pip", "23.3.1")),
            ]
        ),
        layer([("lib/apk/db/installed", "\n".join([*ALPINE_BASE, ALPINE_ZLIB]).encode())]),
        layer(
            [
                (ALPINE_SITE, Dir()),
                (f"{ALPINE_SITE}/.wh..wh..opq", b""),
                (
                    f"{ALPINE_SITE}/setuptools-69.0.0.dist-info/METADATA",
                    metadata("setuptools", "69.0.0", "License: MIT"),
                ),
            ]
        ),
    ]


def build_alpine_image(layout: Path, tag: str = "latest") -> ScanImage:
    blobs = _alpine_layers()
    d = [sha256(blob) for blob in blobs]
    image = build_image(layout, blobs, tag=tag)
    q = "?arch=x86_64&distro=alpine-3.19.1"
    packages = (
        Package(
            "Alpine",
            "busybox",
            "1.36.1-r15",
            f"pkg:apk/alpine/busybox@1.36.1-r15{q}",
            "GPL-2.0-only",
            d[0],
        ),
        Package("Alpine", "musl", "1.2.4-r2", f"pkg:apk/alpine/musl@1.2.4-r2{q}", "MIT", d[0]),
        Package(
            "Alpine",
            "openssl",
            "3.1.4-r1",
            f"pkg:apk/alpine/libcrypto3@3.1.4-r1{q}&upstream=openssl",
            "Apache-2.0",
            d[0],
            "libcrypto3",
        ),
        Package("Alpine", "zlib", "1.3-r2", f"pkg:apk/alpine/zlib@1.3-r2{q}", "Zlib", d[1]),
        Package("PyPI", "setuptools", "69.0.0", "pkg:pypi/setuptools@69.0.0", "MIT", d[2]),
    )
    removed = (
        Package(
            "Alpine",
            "openssl",
            "3.1.4-r1",
            f"pkg:apk/alpine/libssl3@3.1.4-r1{q}&upstream=openssl",
            "Apache-2.0",
            d[0],
            "libssl3",
        ),
        Package("PyPI", "pip", "23.3.1", "pkg:pypi/pip@23.3.1", None, d[0]),
    )
    return ScanImage(image, Inventory(packages, Distro("alpine", "3.19.1")), removed)


def generated_layer(packages: int = 2000, filler_files: int = 0, filler_bytes: int = 0) -> bytes:
    """One layer listing `packages` packages, about 40% dpkg, 30% Python, 30% npm (for
    benchmarks), plus `filler_files` other files of `filler_bytes` each that a scan skips."""
    dpkg_count = packages * 4 // 10
    python_count = packages * 3 // 10
    npm_count = packages - dpkg_count - python_count
    entries: list[tuple[str, bytes | Link | Dir]] = [("etc/os-release", DEBIAN_OS_RELEASE)]
    description = "Description: generated\n" + " a long description line of the package\n" * 15
    status_text = "\n".join(
        dpkg_entry(f"bin{i}", f"1.{i}-1", f"src{i // 3} (1.{i // 3}-1)") + description
        for i in range(dpkg_count)
    )
    entries.append(("var/lib/dpkg/status", status_text.encode()))
    for i in range(python_count):
        body = metadata(f"Py_Package{i}", f"2.{i}", "License: MIT") + b"Long text.\n" * 200
        entries.append((f"{SITE}/Py_Package{i}-2.{i}.dist-info/METADATA", body))
    for i in range(npm_count):
        name = f"@scope{i % 10}/pkg{i}" if i % 2 else f"pkg{i}"
        entries.append((f"app/node_modules/{name}/package.json", npm(name, f"3.{i}.0")))
    filler = bytes(range(256)) * (filler_bytes // 256)
    entries += [(f"usr/share/filler/{i:06d}.bin", filler) for i in range(filler_files)]
    return layer(entries)
