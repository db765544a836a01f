"""The inventory: each ecosystem's database, the overlay of layers, and hostile layer content."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Sequence

import pytest

from dockyard.scanning.inventory import (
    Distro,
    Inventory,
    InventoryError,
    LayerFindings,
    Limits,
    merge_layers,
    scan_layer,
)
from tests.fakes.scan_images import Dir, Link, apk_entry, dpkg_entry, layer, metadata, npm

STATUS = "var/lib/dpkg/status"
SITE = "usr/lib/python3/dist-packages"
DEBIAN = ("etc/os-release", b'ID=debian\nVERSION_ID="12"\n')


def scan(blob: bytes, digest: str = "sha256:l0", limits: Limits = Limits()) -> LayerFindings:
    return scan_layer(digest, io.BytesIO(blob), limits)


def inventory(*layers: Sequence[tuple[str, bytes | Link | Dir]]) -> Inventory:
    return merge_layers([scan(layer(entries), f"sha256:l{i}") for i, entries in enumerate(layers)])


def names(inv: Inventory) -> set[tuple[str, str, str]]:
    return {(p.ecosystem, p.name, p.version) for p in inv.packages}


def status(*entries: str) -> bytes:
    return "\n".join(entries).encode()


# --- Debian and Ubuntu -------------------------------------------------------------------------


def test_dpkg_names_the_source_package_and_keeps_the_binary() -> None:
    inv = inventory(
        [
            DEBIAN,
            (
                STATUS,
                status(
                    dpkg_entry("libc6", "2.36-9+deb12u4", "glibc (2.36-9)"),
                    dpkg_entry("zlib1g", "1:1.2.13.dfsg-1", "zlib (1:1.2.13.dfsg-1)"),
                    dpkg_entry("libssl3", "3.0.11-1", "openssl"),
                    dpkg_entry("openssl", "3.0.11-1"),
                    dpkg_entry("held", "1.0", status="hold ok installed"),
                    dpkg_entry("removed", "1.0", status="deinstall ok config-files"),
                    dpkg_entry("half", "1.0", status="install ok half-installed"),
                ),
            ),
        ]
    )
    by_binary = {p.binary or p.name: p for p in inv.packages}
    assert set(by_binary) == {"libc6", "zlib1g", "libssl3", "openssl", "held"}
    libc = by_binary["libc6"]
    assert (libc.ecosystem, libc.name, libc.version) == ("Debian", "glibc", "2.36-9")
    assert libc.purl == (
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc"
    )
    assert (by_binary["zlib1g"].name, by_binary["zlib1g"].version) == ("zlib", "1:1.2.13.dfsg-1")
    assert (by_binary["libssl3"].name, by_binary["libssl3"].version) == ("openssl", "3.0.11-1")
    assert by_binary["openssl"].binary is None  # the binary is the source
    assert inv.distro == Distro("debian", "12")


def test_distroless_status_d_entries_are_installed_and_md5sums_ignored() -> None:
    inv = inventory(
        [
            DEBIAN,
            ("var/lib/dpkg/status.d/libc6", dpkg_entry("libc6", "2.36-9", "glibc").encode()),
            ("var/lib/dpkg/status.d/libc6.md5sums", b"abc  lib/x86_64-linux-gnu/libc.so.6\n"),
            ("var/lib/dpkg/status.d/base", b"Package: base-files\nVersion: 12.4\n"),
        ]
    )
    assert names(inv) == {("Debian", "glibc", "2.36-9"), ("Debian", "base-files", "12.4")}


def test_ubuntu_packages_by_os_release() -> None:
    os_release = b'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID="22.04"\n'
    inv = inventory(
        [
            ("usr/lib/os-release", os_release),
            (STATUS, status(dpkg_entry("libc6", "2.35-0ubuntu3.6", "glibc"))),
        ]
    )
    (libc,) = inv.packages
    assert (libc.ecosystem, libc.name) == ("Ubuntu", "glibc")
    assert libc.purl.startswith("pkg:deb/ubuntu/libc6@2.35-0ubuntu3.6?")
    assert "distro=ubuntu-22.04" in libc.purl
    assert inv.distro == Distro("ubuntu", "22.04")


def test_without_os_release_dpkg_packages_are_debian_without_a_distro() -> None:
    inv = inventory([(STATUS, status(dpkg_entry("bash", "5.2-1")))])
    assert inv.distro is None
    assert [(p.ecosystem, p.purl) for p in inv.packages] == [
        ("Debian", "pkg:deb/debian/bash@5.2-1?arch=amd64")
    ]


def test_etc_os_release_wins_over_usr_lib() -> None:
    inv = inventory(
        [("usr/lib/os-release", b"ID=debian\nVERSION_ID=11\n"), DEBIAN],
        [("usr/lib/os-release", b"ID=debian\nVERSION_ID=11\n")],
    )
    assert inv.distro == Distro("debian", "11")  # the upper layer's, whichever path it used
    assert scan(layer([("usr/lib/os-release", b"ID=x\n"), DEBIAN])).os_release == {
        "ID": "debian",
        "VERSION_ID": "12",
    }


# --- Alpine, Python, npm -----------------------------------------------------------------------


def test_alpine_names_the_origin_with_licence() -> None:
    db = "\n".join(
        [apk_entry("libcrypto3", "3.1.4-r1", "openssl", "Apache-2.0"), "P:musl\nV:1.2.4-r2\n"]
    )
    inv = inventory(
        [
            ("etc/os-release", b"ID=alpine\nVERSION_ID=3.19.1\n"),
            ("lib/apk/db/installed", db.encode()),
        ]
    )
    musl, crypto = inv.packages
    assert (crypto.ecosystem, crypto.name, crypto.binary, crypto.license) == (
        "Alpine",
        "openssl",
        "libcrypto3",
        "Apache-2.0",
    )
    assert crypto.purl == (
        "pkg:apk/alpine/libcrypto3@3.1.4-r1?arch=x86_64&distro=alpine-3.19.1&upstream=openssl"
    )
    assert (musl.name, musl.binary, musl.license) == ("musl", None, None)


def test_python_metadata_names_are_normalised_and_licences_read() -> None:
    long_license = "Copyright (c) someone\n        Permission is hereby granted, " + "x" * 300
    inv = inventory(
        [
            (f"{SITE}/Foo_Bar.baz-1.0.dist-info/METADATA", metadata("Foo_Bar.baz", "1.0")),
            (
                f"{SITE}/A-2.dist-info/METADATA",
                metadata("A", "2", "License: MIT\nLicense-Expression: Apache-2.0"),
            ),
            (f"{SITE}/B-3.dist-info/METADATA", metadata("B", "3", f"License: {long_license}")),
            (f"{SITE}/C-4.egg-info/PKG-INFO", metadata("C", "4")),
            (f"{SITE}/D-5.egg-info", metadata("D", "5")),  # a legacy single-file egg-info
            (f"{SITE}/E-6.dist-info/RECORD", metadata("E", "6")),
            ("src/METADATA", metadata("F", "7")),
            (f"{SITE}/G.dist-info/METADATA", b"Metadata-Version: 2.1\nName: G\n"),  # no version
        ]
    )
    by_name = {p.name: p for p in inv.packages}
    assert set(by_name) == {"foo-bar-baz", "a", "b", "c", "d"}
    assert by_name["foo-bar-baz"].purl == "pkg:pypi/foo-bar-baz@1.0"
    assert by_name["a"].license == "Apache-2.0"
    assert by_name["b"].license is None  # a whole licence text is not a licence name
    assert all(p.ecosystem == "PyPI" for p in inv.packages)


def test_npm_packages_only_at_package_roots_under_node_modules() -> None:
    inv = inventory(
        [
            ("app/package.json", npm("my-app", "1.0.0")),
            ("app/node_modules/lodash/package.json", npm("lodash", "4.17.20")),
            ("app/node_modules/lodash/fp/package.json", npm("fp", "0.0.1")),
            ("app/node_modules/@babel/core/package.json", npm("@babel/core", "7.22.5")),
            (
                "app/node_modules/@babel/core/node_modules/semver/package.json",
                b'{"name":"semver","version":"6.3.1","license":{"type":"ISC"}}',
            ),
            ("app/node_modules/broken/package.json", b"{not json"),
            ("app/node_modules/deep/package.json", b"[" * 100_000 + b"]" * 100_000),
        ]
    )
    by_name = {p.name: p for p in inv.packages}
    assert set(by_name) == {"lodash", "@babel/core", "semver"}
    assert by_name["@babel/core"].purl == "pkg:npm/%40babel/core@7.22.5"
    assert by_name["semver"].license == "ISC"


# --- the overlay: whiteouts, opaque folders, replaced files, layer attribution ----------------


def test_a_whiteout_deletes_a_folder_of_a_lower_layer() -> None:
    inv = inventory(
        [
            (f"{SITE}/requests-2.19.0.dist-info/METADATA", metadata("requests", "2.19.0")),
            (f"{SITE}/six-1.16.0.dist-info/METADATA", metadata("six", "1.16.0")),
        ],
        [(f"{SITE}/.wh.requests-2.19.0.dist-info", b"")],
    )
    assert names(inv) == {("PyPI", "six", "1.16.0")}


def test_a_whiteout_deletes_a_file_but_not_one_of_its_own_layer() -> None:
    lower = [(STATUS, status(dpkg_entry("bash", "5.2-1")))]
    assert inventory(lower, [("var/lib/dpkg/.wh.status", b"")]).packages == ()
    same_layer = [("var/lib/dpkg/.wh.status", b""), (STATUS, status(dpkg_entry("dash", "0.5")))]
    assert names(inventory(lower, same_layer)) == {("Debian", "dash", "0.5")}


def test_an_opaque_folder_hides_lower_content_only() -> None:
    inv = inventory(
        [(f"{SITE}/pip-23.dist-info/METADATA", metadata("pip", "23"))],
        [
            (SITE, Dir()),
            (f"{SITE}/.wh..wh..opq", b""),
            (f"{SITE}/setuptools-69.dist-info/METADATA", metadata("setuptools", "69")),
        ],
    )
    assert names(inv) == {("PyPI", "setuptools", "69")}


def test_a_rewritten_database_replaces_the_lower_one() -> None:
    inv = inventory(
        [(STATUS, status(dpkg_entry("bash", "5.2-1"), dpkg_entry("curl", "7.88")))],
        [(STATUS, status(dpkg_entry("bash", "5.2-1")))],
    )
    assert names(inv) == {("Debian", "bash", "5.2-1")}


def test_a_link_at_a_database_path_hides_the_lower_file_and_is_not_followed() -> None:
    inv = inventory(
        [(STATUS, status(dpkg_entry("bash", "5.2-1"))), ("other", b"x")],
        [(STATUS, Link("../../../other")), (f"{SITE}/x.dist-info", Link("x.dist-info"))],
    )
    assert inv.packages == ()


def test_aufs_bookkeeping_whiteouts_delete_nothing() -> None:
    findings = scan(layer([(".wh..wh.plnk/1.2", b""), ("var/.wh..wh.aufs", b"")]))
    assert findings.whiteouts == frozenset() and findings.opaque_dirs == frozenset()


def test_merged_usr_alpine_database() -> None:
    db = apk_entry("musl", "1.2.5-r0", "musl", "MIT").encode()
    inv = inventory([("lib", Link("usr/lib")), ("usr/lib/apk/db/installed", db)])
    assert names(inv) == {("Alpine", "musl", "1.2.5-r0")}


def test_a_package_belongs_to_the_lowest_layer_it_has_been_in_since() -> None:
    bash, curl = dpkg_entry("bash", "5.2-1"), dpkg_entry("curl", "7.88")
    inv = inventory(
        [(STATUS, status(bash, curl))],
        [(STATUS, status(bash))],  # curl removed
        [(STATUS, status(bash, curl)), ("app/node_modules/x/package.json", npm("x", "1"))],
        [(STATUS, status(bash, curl, dpkg_entry("zsh", "5.9")))],
    )
    layers = {p.name: p.layer for p in inv.packages}
    assert layers == {
        "bash": "sha256:l0",
        "curl": "sha256:l2",
        "x": "sha256:l2",
        "zsh": "sha256:l3",
    }


def test_findings_and_inventories_survive_json() -> None:
    findings = scan(
        layer(
            [
                DEBIAN,
                (STATUS, status(dpkg_entry("libc6", "2.36-9", "glibc"))),
                (f"{SITE}/.wh.gone", b""),
                ("opt/.wh..wh..opq", b""),
            ]
        )
    )
    again = LayerFindings.from_json(json.loads(json.dumps(findings.to_json())))
    assert again == findings
    assert findings.whiteouts == {f"{SITE}/gone"} and findings.opaque_dirs == {"opt"}
    inv = merge_layers([findings])
    assert Inventory.from_json(json.loads(json.dumps(inv.to_json()))) == inv


def test_plain_tar_and_concatenated_gzip_layers_are_read() -> None:
    entries: list[tuple[str, bytes | Link | Dir]] = [(STATUS, status(dpkg_entry("bash", "5.2")))]
    plain = layer(entries, compress=False)
    assert scan(plain).files[STATUS][0].name == "bash"
    half = len(plain) // 2
    two_members = gzip.compress(plain[:half]) + gzip.compress(plain[half:])
    assert scan(two_members).files[STATUS][0].name == "bash"


# --- hostile layers ----------------------------------------------------------------------------


def test_a_gzip_bomb_stops_at_the_layer_size_limit() -> None:
    bomb = layer([("zeros", bytes(20 * 1024 * 1024))])
    assert len(bomb) < 100_000
    with pytest.raises(InventoryError, match="decompresses to more than 1048576 bytes"):
        scan(bomb, limits=Limits(max_layer_bytes=1024 * 1024))


def test_too_many_entries() -> None:
    many = layer([(f"f{i}", b"") for i in range(300)])
    with pytest.raises(InventoryError, match="more than 100 entries"):
        scan(many, limits=Limits(max_entries=100))


def test_a_huge_metadata_file_is_refused_and_a_huge_other_file_skipped() -> None:
    huge = metadata("x", "1", "Description: " + "y" * 3000)
    with pytest.raises(InventoryError, match=r"x-1.dist-info/METADATA is \d+ bytes, over the 1024"):
        scan(layer([(f"{SITE}/x-1.dist-info/METADATA", huge)]), limits=Limits(max_file_bytes=1024))
    findings = scan(layer([("big.bin", huge)]), limits=Limits(max_file_bytes=1024))
    assert findings.files == {}


def test_symlink_loops_are_never_followed() -> None:
    blob = layer(
        [
            ("a", Link("b")),
            ("b", Link("a")),
            ("var/lib/dpkg", Link(".")),
            (STATUS, Link("status")),
            ("etc/os-release", Link("/etc/os-release")),
        ]
    )
    findings = scan(blob)
    assert findings.files == {} and findings.os_release is None
    assert STATUS in findings.whiteouts


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"\x28\xb5\x2f\xfd" + bytes(100), "zstd-compressed"),
        (b"\xfd7zXZ\x00" + bytes(100), "xz-compressed"),
        (b"\x1f\x8b\x08\x00" + b"\xff" * 200, "gzip stream is corrupt"),
        (b"not a tar archive at all, " * 40, "not a"),
        (b"", "not a tar archive"),
    ],
)
def test_unreadable_blobs_say_why(blob: bytes, message: str) -> None:
    with pytest.raises(InventoryError, match=message):
        scan(blob)


def test_corrupt_and_truncated_gzip() -> None:
    good = layer([(STATUS, status(*(dpkg_entry(f"p{i}", "1") for i in range(200))))])
    flipped = bytearray(good)
    for i in range(len(good) // 2, len(good) // 2 + 16):
        flipped[i] ^= 0x5A
    with pytest.raises(InventoryError, match="gzip stream"):
        scan(bytes(flipped))
    with pytest.raises(InventoryError, match=r"truncated|not a valid tar|cannot be read"):
        scan(good[: len(good) // 2])


def test_paths_leaving_the_root_are_skipped_and_absolute_ones_rooted() -> None:
    blob = layer(
        [
            ("../../var/lib/dpkg/status", status(dpkg_entry("evil", "1"))),
            ("usr/../../etc/os-release", b"ID=evil\n"),
            ("/etc/os-release", b"ID=debian\nVERSION_ID=12\n"),
            ("./var/lib/dpkg/status", status(dpkg_entry("bash", "5.2"))),
        ]
    )
    findings = scan(blob)
    assert list(findings.files) == [STATUS] and findings.files[STATUS][0].name == "bash"
    assert findings.os_release == {"ID": "debian", "VERSION_ID": "12"}


def test_non_utf8_content_and_names() -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT, encoding="latin-1") as tar:
        for name, data in [
            (f"{SITE}/caf\xe9-1.dist-info/METADATA", b"Name: x\nVersion: 1\n"),
            (STATUS, b"Package: b\xe9\xffsh\nStatus: install ok installed\nVersion: 1\xff\n"),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    findings = scan(raw.getvalue())
    (package,) = findings.files[STATUS]
    assert package.name == "b\ufffd\ufffdsh"
    json.dumps(findings.to_json()).encode("utf-8")  # storable as it is


def test_a_huge_pax_header_is_refused() -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("x")
        info.pax_headers = {"comment": "z" * 5000}
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(InventoryError, match=r"tar header of \d+ bytes"):
        scan(raw.getvalue(), limits=Limits(max_header_bytes=1024))


def test_time_and_package_limits() -> None:
    blob = layer([(STATUS, status(*(dpkg_entry(f"p{i}", "1") for i in range(50))))])
    with pytest.raises(InventoryError, match="longer than"):
        scan(blob, limits=Limits(max_seconds=-1))
    with pytest.raises(InventoryError, match="more than 10 packages"):
        scan(blob, limits=Limits(max_packages=10))


def test_a_broken_database_yields_no_packages_and_still_replaces_the_lower() -> None:
    inv = inventory(
        [(STATUS, status(dpkg_entry("bash", "5.2")))],
        [(STATUS, b"\x00\x01garbage without fields\n\n:::\n")],
    )
    assert inv.packages == ()
