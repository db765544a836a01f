"""OSV records: validation of one record and the rows the database keeps of it. Pure, no I/O.

A record (https://ossf.github.io/osv-schema/) becomes one `AffectedRow` per affected package of
an ecosystem the scanner matches (Debian, Ubuntu, Alpine, PyPI, npm): the package's ecosystem
and name normalised the way inventories name them, the record's id, aliases and summary, its
ECOSYSTEM and SEMVER ranges (GIT ranges need the repository's history and are dropped), its
explicit `versions[]` and its severity (`severity.assess`). A record that does not have the
schema's shape raises `RecordError` (the importer skips and counts it); a withdrawn record and
affected packages of other ecosystems give no rows.

Ecosystem strings are normalised so that one string names one release: "Debian:12",
"Alpine:v3.19", "Ubuntu:22.04" (OSV writes LTS releases "Ubuntu:22.04:LTS"; both are stored and
matched as "Ubuntu:22.04"; "Ubuntu:Pro:18.04:LTS" becomes "Ubuntu:Pro:18.04", which no image
matches), "PyPI", "npm". A family without a release ("Debian") applies to every release.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dockyard.scanning.severity import assess

FAMILIES = ("Debian", "Ubuntu", "Alpine", "PyPI", "npm")
_FAMILY_BY_LOWER = {name.lower(): name for name in FAMILIES}
RANGE_TYPES = ("ECOSYSTEM", "SEMVER")
EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")

MAX_ID_CHARS = 128
MAX_NAME_CHARS = 255
MAX_ECOSYSTEM_CHARS = 64
MAX_ALIASES = 64
MAX_SUMMARY_CHARS = 500
MAX_VERSION_CHARS = 255
_PEP503 = re.compile(r"[-_.]+")


class RecordError(ValueError):
    """The record does not have the OSV schema's shape; str(error) says where."""


@dataclass(frozen=True)
class AffectedRow:
    ecosystem: str
    name: str
    vuln_id: str
    aliases: tuple[str, ...]
    summary: str
    ranges: list[dict[str, Any]] = field(hash=False)
    versions: list[str] = field(hash=False)
    severity: str
    cvss: float | None
    severity_note: str


@dataclass(frozen=True)
class ParsedRecord:
    vuln_id: str
    withdrawn: bool
    rows: tuple[AffectedRow, ...]


def normalise_name(family: str, name: str) -> str:
    """A package's name as the database keys it: PEP 503 for PyPI, as written elsewhere."""
    if family == "PyPI":
        return _PEP503.sub("-", name).lower()
    return name


def normalise_ecosystem(raw: str) -> tuple[str, str] | None:
    """(family, normalised ecosystem string), or None for an ecosystem the scanner ignores."""
    parts = raw.strip().split(":")
    family = _FAMILY_BY_LOWER.get(parts[0].lower())
    if family is None:
        return None
    rest = [p for p in parts[1:] if p]
    if family == "Ubuntu" and rest and rest[-1].upper() == "LTS":
        rest = rest[:-1]
    if family in ("PyPI", "npm"):
        rest = []
    return family, ":".join([family, *rest])


def _text(value: Any, where: str, limit: int, *, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise RecordError(f"{where} must be a non-empty string" if required else f"{where}: text")
    if len(value) > limit:
        raise RecordError(f"{where} is longer than {limit} characters")
    return value.strip()


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise RecordError(f"{where} must be an array")
    return value


def _mapping(value: Any, where: str, *, required: bool = False) -> Mapping[str, Any] | None:
    if value is None and not required:
        return None
    if not isinstance(value, Mapping):
        raise RecordError(f"{where} must be an object")
    return value


def _events(raw: Any, where: str) -> list[dict[str, str]]:
    events = []
    for event in _list(raw, f"{where}.events"):
        # The common case checked cheaply; the error (with the event's index) built only on failure.
        if type(event) is dict and len(event) == 1:
            ((kind, version),) = event.items()
            if kind in EVENT_KINDS and type(version) is str and len(version) <= MAX_VERSION_CHARS:
                stripped = version.strip()
                if stripped:
                    events.append({kind: stripped})
                    continue
        _bad_event(event, f"{where}.events[{len(events)}]")
    return events


def _bad_event(event: Any, where: str) -> None:
    event_map = _mapping(event, where, required=True)
    assert event_map is not None
    if len(event_map) != 1:
        raise RecordError(f"{where} must have exactly one of {EVENT_KINDS}")
    ((kind, version),) = event_map.items()
    if kind not in EVENT_KINDS:
        raise RecordError(f"{where}: unknown event {kind!r}")
    _text(version, where, MAX_VERSION_CHARS, required=True)
    raise RecordError(f"{where} is not a valid event")  # pragma: no cover


def _ranges(raw: Any, where: str) -> list[dict[str, Any]]:
    ranges = []
    for i, item in enumerate(_list(raw, f"{where}.ranges")):
        range_map = _mapping(item, f"{where}.ranges[{i}]", required=True)
        assert range_map is not None
        kind = _text(range_map.get("type"), f"{where}.ranges[{i}].type", 32, required=True)
        events = _events(range_map.get("events"), f"{where}.ranges[{i}]")
        if kind in RANGE_TYPES:
            ranges.append({"type": kind, "events": events})
    return ranges


def _versions(raw: Any, where: str) -> list[str]:
    versions = []
    for version in _list(raw, f"{where}.versions"):
        if type(version) is str and len(version) <= MAX_VERSION_CHARS:
            stripped = version.strip()
            if stripped:
                versions.append(stripped)
                continue
        _text(version, f"{where}.versions[{len(versions)}]", MAX_VERSION_CHARS, required=True)
        raise RecordError(f"{where}.versions[{len(versions)}] is not valid")  # pragma: no cover
    return versions


def _summary(record: Mapping[str, Any]) -> str:
    summary = record.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        details = record.get("details")
        summary = (
            details.strip().splitlines()[0] if isinstance(details, str) and details.strip() else ""
        )
    summary = " ".join(summary.split())
    return summary if len(summary) <= MAX_SUMMARY_CHARS else summary[: MAX_SUMMARY_CHARS - 1] + "…"


def _affected_row(
    record: Mapping[str, Any], item: Any, where: str, vuln_id: str, aliases: tuple[str, ...]
) -> AffectedRow | None:
    affected = _mapping(item, where, required=True)
    assert affected is not None
    package = _mapping(affected.get("package"), f"{where}.package")
    ranges = _ranges(affected.get("ranges"), where)
    versions = _versions(affected.get("versions"), where)
    if package is None:  # allowed by the schema for GIT-only entries: nothing to match by name
        return None
    raw_ecosystem = _text(
        package.get("ecosystem"), f"{where}.package.ecosystem", 200, required=True
    )
    name = _text(package.get("name"), f"{where}.package.name", MAX_NAME_CHARS, required=True)
    normalised = normalise_ecosystem(raw_ecosystem)
    if normalised is None or (not ranges and not versions):
        return None
    family, ecosystem = normalised
    if len(ecosystem) > MAX_ECOSYSTEM_CHARS:
        raise RecordError(f"{where}.package.ecosystem is longer than {MAX_ECOSYSTEM_CHARS}")
    severities = affected.get("severity") or record.get("severity") or []
    assessment = assess(
        [s for s in _list(severities, "severity") if isinstance(s, Mapping)],
        (
            affected.get("ecosystem_specific"),
            affected.get("database_specific"),
            record.get("database_specific"),
        ),
    )
    return AffectedRow(
        ecosystem=ecosystem,
        name=normalise_name(family, name),
        vuln_id=vuln_id,
        aliases=aliases,
        summary=_summary(record),
        ranges=ranges,
        versions=versions,
        severity=assessment.severity,
        cvss=assessment.cvss,
        severity_note=assessment.note,
    )


def parse_record(data: Any) -> ParsedRecord:
    """The rows of one OSV record; RecordError when it does not have the schema's shape."""
    record = _mapping(data, "record", required=True)
    assert record is not None
    vuln_id = _text(record.get("id"), "id", MAX_ID_CHARS, required=True)
    aliases = tuple(
        _text(alias, f"aliases[{i}]", MAX_ID_CHARS, required=True)
        for i, alias in enumerate(_list(record.get("aliases"), "aliases")[:MAX_ALIASES])
    )
    withdrawn = record.get("withdrawn")
    if withdrawn is not None and not isinstance(withdrawn, str):
        raise RecordError("withdrawn must be a timestamp string")
    rows = []
    for i, item in enumerate(_list(record.get("affected"), "affected")):
        row = _affected_row(record, item, f"affected[{i}]", vuln_id, aliases)
        if row is not None:
            rows.append(row)
    if withdrawn:
        return ParsedRecord(vuln_id, True, ())
    return ParsedRecord(vuln_id, False, tuple(rows))
