"""Which database failures are worth retrying: a consumer that skips an event it could not
handle must not skip it for a failure that goes away on its own ("database is locked" on SQLite,
a deadlock or serialization failure or a dropped connection on PostgreSQL). Those are raised again
so the whole step rolls back, its cursor unmoved, and the runner retries it after a backoff.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, OperationalError

# PostgreSQL SQLSTATEs: serialization_failure, deadlock_detected, lock_not_available.
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03"})


def is_transient(exc: BaseException) -> bool:
    """True when running the same work again later may well succeed."""
    if isinstance(exc, OperationalError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        return sqlstate in _RETRYABLE_SQLSTATES
    return False
