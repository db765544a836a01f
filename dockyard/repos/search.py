"""Repository search, served by an index: a case-insensitive substring of "namespace/name" or of
the short description, as a WHERE clause for any repository statement.

No B-tree serves a substring, so migration 0015 keeps trigram indexes and this module writes the
predicate each database's index serves:

- PostgreSQL: `lower(namespace || '/' || name) LIKE '%term%'` (and the same on the description),
  the very expressions of the `pg_trgm` GIN indexes (a bound '/' would not match them);
- SQLite: the repositories whose row in `repository_search_fts` (FTS5, `trigram` tokenizer over
  the lower-cased texts) holds the term as a phrase: consecutive trigrams, i.e. the substring.
  Only for a rare term (`repository_search` counts, up to COMMON): listing every match of a
  common one costs more than reading the list in order until a page is full.

A term shorter than a trigram cannot be looked up: it is the LIKE on rows read in list order.

Also here, for the same reason (an expression index must be matched word for word): the
namespace part of a "namespace/name" key, which webhook lists by namespace filter on.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import ColumnElement, Select, column, func, literal_column, or_, select, table
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import ColumnClause

from dockyard.repos.models import Repository

log = logging.getLogger(__name__)

# Objects of migration 0015 that no model declares (the schema comparison skips them).
ALEMBIC_IGNORED = frozenset(
    {
        "repository_search",
        "repository_search_fts",
        "ix_repositories_search_name",
        "ix_repositories_search_description",
        "ix_webhook_subscriptions_namespace_created",
    }
)

_SLASH: ColumnClause[Any] = literal_column("'/'")
_FTS = table("repository_search_fts", column("rowid"))
_ROWS = table("repository_search", column("row"), column("repository_id"))


# A term matching more repositories than this is common: the list's own order, read until the
# page is full, finds a page of them sooner than the trigram index lists them all.
COMMON = 1000


def substring_match(term: str) -> ColumnElement[bool]:
    """`term` (lower-cased) in the lower-cased "namespace/name" or short description: a LIKE,
    which PostgreSQL's trigram indexes serve (their very expressions)."""
    name = func.lower(Repository.namespace.op("||")(_SLASH).op("||")(Repository.name))
    description = func.lower(Repository.short_description)
    return or_(
        name.contains(term, autoescape=True),
        description.contains(term, autoescape=True),
    )


def _phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _fts_rows(term: str) -> Select[Any]:
    return select(_FTS.c.rowid).where(literal_column("repository_search_fts").match(_phrase(term)))


def trigram_match(term: str) -> ColumnElement[bool]:
    """SQLite: the repositories whose lower-cased texts hold `term` (lower-cased, 3 characters
    or more), looked up in the FTS5 trigram index."""
    ids = select(_ROWS.c.repository_id).where(_ROWS.c.row.in_(_fts_rows(term)))
    return Repository.id.in_(ids)


async def _is_rare(session: AsyncSession, term: str) -> bool:
    """Fewer than COMMON repositories hold `term` (counting stops there: cheap either way).
    False without the index: a database migrated while revision 0015 was still an empty step
    never got it (the LIKE answers the same, by reading rows)."""
    first = _fts_rows(term).limit(COMMON).subquery()
    try:
        found = await session.scalar(select(func.count()).select_from(first))
    except OperationalError:  # no such table: SQLite's SELECT leaves the transaction usable
        log.warning("repos.search.no_trigram_index")
        return False
    return int(found or 0) < COMMON


async def repository_search(session: AsyncSession, search: str) -> ColumnElement[bool] | None:
    """Repositories whose "namespace/name" or short description holds `search` (any case);
    None for an empty search.

    PostgreSQL's planner knows from its statistics whether the trigram index or the list's
    order serves a term better. SQLite's does not: a rare term is looked up in the FTS5 index
    (the page then sorts its few matches); a common one, or one too short for a trigram, is the
    LIKE over rows read in the list's order, which stops once the page is full."""
    if not search:
        return None
    term = search.lower()
    bind = session.get_bind()
    if bind.dialect.name == "sqlite" and len(term) >= 3 and await _is_rare(session, term):
        return trigram_match(term)
    return substring_match(term)
