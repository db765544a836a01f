"""Severity from CVSS vectors in MSR's buckets (dockyard/scanning/severity.py)."""

from __future__ import annotations

import pytest

from dockyard.scanning.severity import (
    NO_SCORE_NOTE,
    ZERO_SCORE_NOTE,
    assess,
    base_score,
    bucket,
)

V3_98 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
V3_53 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L"
V3_18 = "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"
V3_ZERO = "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N"
V4_93 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
V4_10 = "CVSS:4.0/AV:L/AC:H/AT:P/PR:H/UI:A/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N"
V2_75 = "AV:N/AC:L/Au:N/C:P/I:P/A:P"


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (10.0, "critical"),
        (7.0, "critical"),
        (6.9, "major"),
        (4.0, "major"),
        (3.9, "minor"),
        (0.1, "minor"),
        (0.0, "minor"),
    ],
)
def test_msr_buckets_at_their_edges(score: float, expected: str) -> None:
    assert bucket(score) == expected


@pytest.mark.parametrize(
    ("kind", "vector", "score"),
    [
        ("CVSS_V3", V3_98, 9.8),
        ("CVSS_V3", V3_53, 5.3),
        ("CVSS_V3", V3_18, 1.8),
        ("CVSS_V4", V4_93, 9.3),
        ("CVSS_V4", V4_10, 1.0),
        ("CVSS_V2", V2_75, 7.5),
    ],
)
def test_base_score_is_computed_from_the_vector(kind: str, vector: str, score: float) -> None:
    assert base_score(kind, vector) == score


@pytest.mark.parametrize(
    ("kind", "vector"),
    [
        ("CVSS_V3", "garbage"),
        ("CVSS_V3", "CVSS:3.1/AV:N"),  # mandatory metrics missing
        ("CVSS_V3", V4_93),  # a v4 vector under the v3 type
        ("CVSS_V4", "CVSS:4.0/AV:X"),
        ("CVSS_V2", "AV:Q/AC:L"),
        ("Ubuntu", "high"),  # not a CVSS type
        ("CVSS_V3", ""),
    ],
)
def test_a_vector_that_does_not_parse_has_no_score(kind: str, vector: str) -> None:
    assert base_score(kind, vector) is None


def test_critical_major_minor_from_a_v3_vector() -> None:
    critical = assess([{"type": "CVSS_V3", "score": V3_98}])
    assert (critical.severity, critical.cvss, critical.note) == (
        "critical",
        9.8,
        "CVSS 3.1 base score 9.8",
    )
    assert assess([{"type": "CVSS_V3", "score": V3_53}]).severity == "major"
    minor = assess([{"type": "CVSS_V3", "score": V3_18}])
    assert (minor.severity, minor.cvss) == ("minor", 1.8)


def test_v3_is_preferred_then_v4_then_v2() -> None:
    both = assess([{"type": "CVSS_V4", "score": V4_93}, {"type": "CVSS_V3", "score": V3_53}])
    assert (both.severity, both.cvss) == ("major", 5.3)
    v4_v2 = assess([{"type": "CVSS_V2", "score": V2_75}, {"type": "CVSS_V4", "score": V4_10}])
    assert (v4_v2.severity, v4_v2.cvss, v4_v2.note) == ("minor", 1.0, "CVSS 4.0 base score 1.0")
    only_v2 = assess([{"type": "CVSS_V2", "score": V2_75}])
    assert (only_v2.severity, only_v2.cvss, only_v2.note) == (
        "critical",
        7.5,
        "CVSS 2 base score 7.5",
    )


def test_a_broken_v3_vector_falls_back_to_the_next_type() -> None:
    result = assess(
        [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N"}, {"type": "CVSS_V2", "score": V2_75}]
    )
    assert (result.severity, result.cvss) == ("critical", 7.5)


def test_no_score_counts_as_major_and_says_so() -> None:
    result = assess([])
    assert (result.severity, result.cvss, result.note) == ("major", None, NO_SCORE_NOTE)
    assert result.note == "no CVSS score in the record; counted as major"


def test_no_score_quotes_the_records_own_word() -> None:
    github = assess([], [None, {"severity": "HIGH"}])
    assert github.severity == "major" and github.cvss is None
    assert github.note == NO_SCORE_NOTE + "; the record rates it HIGH"
    ubuntu = assess([{"type": "Ubuntu", "score": "medium"}])
    assert ubuntu.note == NO_SCORE_NOTE + "; the record rates it medium"


def test_an_unparseable_vector_alone_is_no_score_and_the_note_says_why() -> None:
    result = assess([{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N"}])
    assert (result.severity, result.cvss) == ("major", None)
    assert result.note.startswith(NO_SCORE_NOTE) and "does not parse" in result.note


def test_a_zero_score_counts_as_minor_and_says_so() -> None:
    result = assess([{"type": "CVSS_V3", "score": V3_ZERO}])
    assert (result.severity, result.cvss, result.note) == ("minor", 0.0, ZERO_SCORE_NOTE)


def test_entries_of_the_wrong_shape_are_ignored() -> None:
    result = assess([{"type": "CVSS_V3"}, {"score": V3_98}, {"type": 3, "score": V3_98}])
    assert (result.severity, result.cvss) == ("major", None)
