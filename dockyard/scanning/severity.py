"""Severity of an OSV record: the CVSS base score computed from its vector, in MSR's buckets.

Pure (no I/O). MSR counts vulnerabilities in three buckets of the CVSS base score:
critical 7.0 to 10.0, major 4.0 to 6.9, minor 0.1 to 3.9. Two cases MSR leaves open, decided here:

- A record without any usable score (no CVSS vector, or none that parses) counts as **major**,
  and its note says so: "no CVSS score in the record; counted as major" (followed by the record's
  own word, e.g. "the record rates it HIGH", when `database_specific`/`ecosystem_specific` has one).
- A base score of **0.0** (CVSS "None") counts as **minor** (it is still a published
  vulnerability of an installed package) and the note says "CVSS base score 0.0; counted as minor".

When a record carries several vectors, the first usable one in the order CVSS v3, v4, v2 wins:
v3 is what most advisories (GitHub, NVD, distributions) publish and what MSR's buckets were
written for; v4 and then v2 stand in when it is missing. Package-level severity
(`affected[].severity`) takes the place of the record-level list when present.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cvss import CVSS2, CVSS3, CVSS4, CVSSError

CRITICAL = "critical"
MAJOR = "major"
MINOR = "minor"
BUCKETS = (CRITICAL, MAJOR, MINOR)

NO_SCORE_NOTE = "no CVSS score in the record; counted as major"
ZERO_SCORE_NOTE = "CVSS base score 0.0; counted as minor"

# Preference order of the OSV severity types (see the module docstring).
_PREFERENCE = ("CVSS_V3", "CVSS_V4", "CVSS_V2")
_CALCULATORS: dict[str, Any] = {"CVSS_V3": CVSS3, "CVSS_V4": CVSS4, "CVSS_V2": CVSS2}
_LABELS = {"CVSS_V3": "CVSS 3", "CVSS_V4": "CVSS 4.0", "CVSS_V2": "CVSS 2"}
MAX_NOTE_CHARS = 255


@dataclass(frozen=True)
class Assessment:
    severity: str  # "critical" | "major" | "minor"
    cvss: float | None  # the base score; None when the record has none
    note: str


def bucket(score: float) -> str:
    """MSR's bucket of a CVSS base score (0.0 counts as minor, see the module docstring)."""
    if score >= 7.0:
        return CRITICAL
    if score >= 4.0:
        return MAJOR
    return MINOR


@lru_cache(maxsize=4096)
def base_score(kind: str, vector: str) -> float | None:
    """The base score of one vector of an OSV severity type, or None when it does not parse."""
    calculator = _CALCULATORS.get(kind)
    if calculator is None or not vector or len(vector) > 512:
        return None
    try:
        score = float(calculator(vector.strip()).base_score)
    except (CVSSError, ValueError, KeyError, TypeError, ArithmeticError):
        return None
    if not 0.0 <= score <= 10.0:
        return None
    return score


def _label(kind: str, vector: str) -> str:
    if kind == "CVSS_V3" and vector.startswith("CVSS:3."):
        return f"CVSS {vector[5:8]}"
    return _LABELS[kind]


def _record_word(specifics: Iterable[Mapping[str, Any] | None]) -> str | None:
    """The record's own severity word (GitHub's `database_specific.severity`, Debian's urgency)."""
    for specific in specifics:
        if not isinstance(specific, Mapping):
            continue
        for key in ("severity", "urgency", "priority"):
            value = specific.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()[:40]
    return None


def assess(
    severities: Iterable[Mapping[str, Any]],
    specifics: Iterable[Mapping[str, Any] | None] = (),
) -> Assessment:
    """The bucket of a record from its `severity[]` entries (and its own word when unscored)."""
    vectors: dict[str, str] = {}
    for entry in severities:
        kind, score = entry.get("type"), entry.get("score")
        if isinstance(kind, str) and isinstance(score, str) and kind not in vectors:
            vectors[kind] = score
    for kind in _PREFERENCE:
        vector = vectors.get(kind)
        if vector is None:
            continue
        score = base_score(kind, vector)
        if score is None:
            continue
        if score == 0.0:
            return Assessment(MINOR, 0.0, ZERO_SCORE_NOTE)
        return Assessment(bucket(score), score, f"{_label(kind, vector)} base score {score:.1f}")
    note = NO_SCORE_NOTE
    if any(kind in _CALCULATORS for kind in vectors):
        note += " (its CVSS vector does not parse)"
    word = _record_word(specifics) or vectors.get("Ubuntu")
    if word:
        note += f"; the record rates it {word}"
    return Assessment(MAJOR, None, note[:MAX_NOTE_CHARS])
