"""Which database failures are worth retrying, and which are the client's text, not a fault.

Retrying: a consumer that skips an event it could not
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


# character_not_in_repertoire, untranslatable_character: PostgreSQL text holds no NUL (U+0000).
_UNSTORABLE_TEXT_SQLSTATES = frozenset({"22021", "22P05"})


def is_unstorable_text(exc: BaseException) -> bool:
    """True when the database refused a value a client sent as text (a NUL character): the
    request's fault, answered 400, not a server error. SQLite stores such text; PostgreSQL
    refuses it, even in a lookup."""
    seen: BaseException | None = exc
    while seen is not None:
        orig = getattr(seen, "orig", None)
        for candidate in (seen, orig):
            sqlstate = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
            if sqlstate in _UNSTORABLE_TEXT_SQLSTATES:
                return True
        if "invalid byte sequence for encoding" in str(seen) and "0x00" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
