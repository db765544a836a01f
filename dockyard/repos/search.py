"""Repository search, served by an index: a case-insensitive substring of "namespace/name" or of
the short description, as a WHERE clause for any repository statement.

No B-tree serves a substring, so migration 0015 keeps trigram indexes and this module writes the
predicate each database's index serves (the statement is built before the database is known, so
the choice is made when it is compiled):

- PostgreSQL: `lower(namespace || '/' || name) LIKE '%term%'` (and the same on the description),
  the very expressions of the `pg_trgm` GIN indexes (a bound '/' would not match them);
- SQLite: the repositories whose row in `repository_search_fts` (FTS5, `trigram` tokenizer over
  the lower-cased texts) holds the term as a phrase: consecutive trigrams, i.e. the substring.

A term shorter than a trigram matches too many rows for an index to help (and FTS5 cannot look it
up): it is the same LIKE on the rows, read in the list's order until the page is full.

Also here, for the same reason (an expression index must be matched word for word): the
namespace part of a "namespace/name" key, which webhook lists by namespace filter on.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, column, func, literal_column, or_, select, table
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnClause
from sqlalchemy.types import Boolean, String

from dockyard.repos.models import Repository

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


def _like(term: str) -> ColumnElement[bool]:
    name = func.lower(Repository.namespace.op("||")(_SLASH).op("||")(Repository.name))
    description = func.lower(Repository.short_description)
    return or_(
        name.contains(term, autoescape=True),
        description.contains(term, autoescape=True),
    )


def _fts(term: str) -> ColumnElement[bool]:
    phrase = '"' + term.replace('"', '""') + '"'
    rows = select(_FTS.c.rowid).where(literal_column("repository_search_fts").match(phrase))
    ids = select(_ROWS.c.repository_id).where(_ROWS.c.row.in_(rows))
    return Repository.id.in_(ids)


class _Search(ColumnElement[bool]):
    """The search predicate, rendered for the database compiling it."""

    inherit_cache = False
    type = Boolean()
    # A predicate as it stands (SQLAlchemy would otherwise write "... = 1" on SQLite, which no
    # index serves).
    _is_implicitly_boolean = True

    def __init__(self, term: str) -> None:
        self.term = term


@compiles(_Search)
def _compile(element: _Search, compiler: Any, **kw: Any) -> str:
    indexed = len(element.term) >= 3
    if indexed and compiler.dialect.name == "sqlite":
        return str(compiler.process(_fts(element.term), **kw))
    return str(compiler.process(_like(element.term), **kw))


def repository_search(search: str) -> ColumnElement[bool] | None:
    """Repositories whose "namespace/name" or short description holds `search` (any case);
    None for an empty search."""
    if not search:
        return None
    return _Search(search.lower())


class _KeyNamespace(ColumnElement[str]):
    inherit_cache = False
    type = String()

    def __init__(self, key: Any) -> None:
        self.source = key


@compiles(_KeyNamespace)
def _compile_namespace(element: _KeyNamespace, compiler: Any, **kw: Any) -> str:
    key = compiler.process(element.source, **kw)
    if compiler.dialect.name == "sqlite":
        return f"substr({key}, 1, instr({key} || '/', '/') - 1)"
    return f"split_part({key}, '/', 1)"


def key_namespace(key: Any) -> ColumnElement[str]:
    """The namespace of a "namespace/name" or "namespace" key: the text before its first "/",
    as migration 0015's index `ix_webhook_subscriptions_namespace_created` writes it."""
    return _KeyNamespace(key)
