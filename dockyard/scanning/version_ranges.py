"""Is an installed version affected by an OSV record's ranges and versions? Pure, no I/O.

Follows the OSV schema's evaluation (https://ossf.github.io/osv-schema/#evaluation) exactly:
a version is affected when it is listed in `versions[]` or lies in one of the ranges; a range
is walked over its events sorted by version (`introduced: "0"` first), where `introduced <= v`
makes it vulnerable, `fixed <= v` not, `last_affected < v` not, and `limit` events bound the
whole range from above (`v < limit` for some limit, `"*"` meaning infinity). When two events have
the same version, `introduced` comes first (so `introduced X`, `fixed X` is empty and
`introduced X`, `last_affected X` holds X).

Each ecosystem's own order decides, through `univers`: dpkg for Debian and Ubuntu
(`DebianVersion`: epochs, `~`), apk for Alpine (`AlpineLinuxVersion`: `-r` releases, `_p`
suffixes), PEP 440 for PyPI (`PypiVersion`) and SemVer 2.0 for npm and for every `SEMVER`
range (`SemverVersion`: prereleases sort first). Only `<` is used: univers' apk versions order
`<=` by their text, not by apk's rules. A bound that does not parse errs towards
reporting: an unparseable `introduced` counts as "0", an unparseable `fixed`/`last_affected`
is ignored, an unparseable `limit` counts as "*". `versions[]` entries are compared with the
installed version as strings (the pseudocode's `v == version`; osv.dev fills these lists with
the versions as the ecosystem publishes them, which is how installed packages name them too), so
an installed version that does not parse still matches a list.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from univers.versions import (
    AlpineLinuxVersion,
    DebianVersion,
    InvalidVersion,
    PypiVersion,
    SemverVersion,
    Version,
)

VERSION_CLASSES: dict[str, type[Version]] = {
    "Debian": DebianVersion,
    "Ubuntu": DebianVersion,
    "Alpine": AlpineLinuxVersion,
    "PyPI": PypiVersion,
    "npm": SemverVersion,
}
_RANK = {"introduced": 0, "fixed": 1, "last_affected": 1, "limit": 2}


class Versions:
    """Parses version strings of one ordering, each once (a scan compares the same ones often)."""

    def __init__(self, cls: type[Version]) -> None:
        self.cls = cls
        self._cache: dict[str, Version | None] = {}

    def parse(self, text: str) -> Version | None:
        try:
            return self._cache[text]
        except KeyError:
            pass
        try:
            value: Version | None = self.cls(text)
        except (InvalidVersion, ValueError, TypeError, AttributeError, IndexError):
            value = None
        self._cache[text] = value
        return value


class Orderings:
    """The `Versions` of one ecosystem family and of SEMVER ranges, for one scan."""

    def __init__(self) -> None:
        self._by_class: dict[type[Version], Versions] = {}

    def of(self, cls: type[Version]) -> Versions:
        versions = self._by_class.get(cls)
        if versions is None:
            versions = self._by_class[cls] = Versions(cls)
        return versions

    def for_range(self, family: str, range_type: str) -> Versions:
        return self.of(SemverVersion if range_type == "SEMVER" else VERSION_CLASSES[family])


@dataclass(frozen=True)
class Verdict:
    affected: bool
    fixed_version: str | None  # the smallest `fixed` above the installed version


_MIN = object()  # `introduced: "0"`: before every version


def _compare(a: tuple[Any, int], b: tuple[Any, int]) -> int:
    (va, ra), (vb, rb) = a, b
    if va is not _MIN or vb is not _MIN:
        if va is _MIN:
            return -1
        if vb is _MIN:
            return 1
        if va < vb:
            return -1
        if vb < va:
            return 1
    return ra - rb


def _compare_events(a: tuple[Any, int, str], b: tuple[Any, int, str]) -> int:
    return _compare((a[0], a[1]), (b[0], b[1]))


_EVENT_ORDER = functools.cmp_to_key(_compare_events)


def _sorted_events(events: Sequence[dict[str, str]], order: Versions) -> list[tuple[Any, int, str]]:
    keyed: list[tuple[Any, int, str]] = []
    for event in events:
        ((kind, raw),) = event.items()
        if kind == "limit":
            continue
        parsed = _MIN if kind == "introduced" and raw == "0" else order.parse(raw)
        if parsed is None:
            if kind != "introduced":
                continue  # an unparseable fix or last_affected: ignored (errs towards reporting)
            parsed = _MIN
        keyed.append((parsed, _RANK[kind], kind))
    return sorted(keyed, key=_EVENT_ORDER)


def _before_limits(v: Version, events: Sequence[dict[str, str]], order: Versions) -> bool:
    limits = [event["limit"] for event in events if "limit" in event]
    if not limits:
        return True
    for raw in limits:
        bound = None if "*" in raw else order.parse(raw)
        if bound is None or v < bound:
            return True
    return False


def _simple(v: Version, events: Sequence[dict[str, str]], order: Versions) -> bool | None:
    """The answer for the shapes nearly every record has (`introduced` then `fixed` or
    `last_affected`, or `introduced` alone) with the fewest comparisons; None for the others."""
    if len(events) > 2 or not events or "introduced" not in events[0]:
        return None
    introduced = events[0]["introduced"]
    low = None if introduced == "0" else order.parse(introduced)
    if low is None and introduced != "0":
        return None
    if low is not None and v < low:
        return False
    if len(events) == 1:
        return True
    ((kind, raw),) = events[1].items()
    high = order.parse(raw)
    if high is None or kind not in ("fixed", "last_affected"):
        return None
    if low is not None and high < low:
        return None  # written out of order: the general walk sorts them
    return v < high if kind == "fixed" else not high < v


def in_range(v: Version, events: Sequence[dict[str, str]], order: Versions) -> bool:
    """The schema's IncludedInRanges for one range."""
    simple = _simple(v, events, order)
    if simple is not None:
        return simple
    if not _before_limits(v, events, order):
        return False
    vulnerable = False
    for bound, _rank, kind in _sorted_events(events, order):
        if kind == "introduced":
            if bound is _MIN or not v < bound:
                vulnerable = True
        elif bound is not _MIN and (not v < bound if kind == "fixed" else bound < v):
            vulnerable = False
    return vulnerable


def _smallest_fix_above(
    v: Version, events: Sequence[dict[str, str]], order: Versions
) -> tuple[Version, str] | None:
    best: tuple[Version, str] | None = None
    for event in events:
        raw = event.get("fixed")
        if raw is None:
            continue
        bound = order.parse(raw)
        if bound is not None and v < bound and (best is None or bound < best[0]):
            best = (bound, raw)
    return best


def evaluate(
    family: str,
    installed: str,
    ranges: Sequence[dict[str, Any]],
    versions: Sequence[str],
    orderings: Orderings,
) -> Verdict:
    """Whether `installed` is affected, and the smallest fix above it."""
    affected = installed in versions  # compared as strings, as OSV's evaluation does
    parsed: list[tuple[Version, Sequence[dict[str, str]], Versions]] = []
    for item in ranges:
        order = orderings.for_range(family, item["type"])
        v = order.parse(installed)
        if v is None:
            continue
        parsed.append((v, item["events"], order))
        if not affected and in_range(v, item["events"], order):
            affected = True
    if not affected:
        return Verdict(False, None)
    fixes = [fix for v, events, order in parsed if (fix := _smallest_fix_above(v, events, order))]
    best: tuple[Version, str] | None = None
    for fix in fixes:
        try:
            if best is None or fix[0] < best[0]:
                best = fix
        except TypeError:  # a SEMVER and an ECOSYSTEM bound: keep the first
            continue
    return Verdict(True, best[1] if best else None)
