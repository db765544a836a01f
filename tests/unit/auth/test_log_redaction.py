"""The access line's query string: secret parameters (DTR's `?refresh_token=`) keep their name and
lose their value; everything else is kept, bounded in length."""

from __future__ import annotations

from urllib.parse import parse_qsl

from dockyard.api.middleware import QUERY_LOG_LIMIT, REDACTED, loggable_query


def test_secrets_are_redacted_and_the_rest_kept() -> None:
    logged = loggable_query(b"pageSize=10&refresh_token=SECRET1&REFRESH_TOKEN=SECRET2&count=true")
    assert "SECRET" not in logged
    assert parse_qsl(logged) == [
        ("pageSize", "10"),
        ("refresh_token", REDACTED),
        ("REFRESH_TOKEN", REDACTED),
        ("count", "true"),
    ]


def test_other_secret_names_and_encodings() -> None:
    for name in ("access_token", "token", "password"):
        assert "hunter2" not in loggable_query(f"{name}=hunter2&a=b".encode())
    # Percent-encoded names are decoded before the check.
    assert "S3CR3T" not in loggable_query(b"refresh%5Ftoken=S3CR3T")
    # A blank value is kept as blank, redacted all the same.
    assert parse_qsl(loggable_query(b"refresh_token="), keep_blank_values=True) == [
        ("refresh_token", REDACTED)
    ]


def test_empty_and_long_queries() -> None:
    assert loggable_query(b"") == ""
    long = b"q=" + b"x" * (QUERY_LOG_LIMIT * 3)
    assert len(loggable_query(long)) == QUERY_LOG_LIMIT
