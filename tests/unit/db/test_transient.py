"""Which database failures a consumer retries instead of skipping its event."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from dockyard.db.transient import is_transient


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def test_a_locked_sqlite_is_transient() -> None:
    assert is_transient(OperationalError("UPDATE", {}, Exception("database is locked")))


def test_a_postgresql_deadlock_or_serialization_failure_is_transient() -> None:
    assert is_transient(DBAPIError("UPDATE", {}, _PgError("40P01")))
    assert is_transient(DBAPIError("UPDATE", {}, _PgError("40001")))


def test_a_constraint_violation_or_a_bug_is_not() -> None:
    assert not is_transient(IntegrityError("INSERT", {}, _PgError("23505")))
    assert not is_transient(ValueError("bad payload"))
