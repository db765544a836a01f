"""search index: substring search of repositories from an index; namespace webhook lists

Revision ID: 0015_search_index
Revises: 0014_replicas
Create Date: 2026-12-01 03:00:00.000000

Repository search (`repos/search.py`) matches a substring of "namespace/name" or the short
description, lower-cased. No B-tree serves a substring, so:

- PostgreSQL: trigram GIN indexes (`pg_trgm`) on the two lower-cased expressions. Creating the
  extension needs a privilege the database owner may lack: then the indexes are left out (the
  search still answers, by reading rows) and a later run of this step cannot add them (create
  the extension and the indexes by hand, as the docs say).
- SQLite: an FTS5 `trigram` index over a plain table of the lower-cased texts, kept in step with
  `repositories` by triggers. The plain table's INTEGER PRIMARY KEY is the FTS rowid: it is
  stable (VACUUM renumbers implicit rowids, not these).

The namespace webhook list (`webhooks/service.py`) filters by the namespace part of the key and
pages by (created_at, id): an expression index on (namespace of key, created_at, id) serves it.
These objects are outside the models (`ALEMBIC_IGNORED` in `repos/search.py` tells the schema
comparison so).
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

revision: str = "0015_search_index"
down_revision: str | None = "0014_replicas"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAME = "lower({p}namespace || '/' || {p}name)"
_DESCRIPTION = "lower({p}short_description)"
_NEW = {"p": "new."}
_ROW = {"p": ""}

_SQLITE = [
    "CREATE TABLE repository_search ("
    " row INTEGER PRIMARY KEY,"
    " repository_id VARCHAR(36) NOT NULL UNIQUE,"
    " full_name TEXT NOT NULL,"
    " description TEXT NOT NULL)",
    "CREATE VIRTUAL TABLE repository_search_fts USING fts5("
    "full_name, description, content='repository_search', content_rowid='row',"
    " tokenize='trigram case_sensitive 1')",
    # repositories -> repository_search
    "CREATE TRIGGER repository_search_ai AFTER INSERT ON repositories BEGIN"
    " INSERT INTO repository_search (repository_id, full_name, description)"
    f" VALUES (new.id, {_NAME.format_map(_NEW)}, {_DESCRIPTION.format_map(_NEW)}); END",
    "CREATE TRIGGER repository_search_ad AFTER DELETE ON repositories BEGIN"
    " DELETE FROM repository_search WHERE repository_id = old.id; END",
    "CREATE TRIGGER repository_search_au AFTER UPDATE OF namespace, name, short_description"
    " ON repositories BEGIN UPDATE repository_search SET"
    f" full_name = {_NAME.format_map(_NEW)}, description = {_DESCRIPTION.format_map(_NEW)}"
    " WHERE repository_id = old.id; END",
    # repository_search -> its FTS index (an external-content index is told every change)
    "CREATE TRIGGER repository_search_fts_ai AFTER INSERT ON repository_search BEGIN"
    " INSERT INTO repository_search_fts (rowid, full_name, description)"
    " VALUES (new.row, new.full_name, new.description); END",
    "CREATE TRIGGER repository_search_fts_ad AFTER DELETE ON repository_search BEGIN"
    " INSERT INTO repository_search_fts (repository_search_fts, rowid, full_name, description)"
    " VALUES ('delete', old.row, old.full_name, old.description); END",
    "CREATE TRIGGER repository_search_fts_au AFTER UPDATE ON repository_search BEGIN"
    " INSERT INTO repository_search_fts (repository_search_fts, rowid, full_name, description)"
    " VALUES ('delete', old.row, old.full_name, old.description);"
    " INSERT INTO repository_search_fts (rowid, full_name, description)"
    " VALUES (new.row, new.full_name, new.description); END",
    "INSERT INTO repository_search (repository_id, full_name, description)"
    f" SELECT id, {_NAME.format_map(_ROW)}, {_DESCRIPTION.format_map(_ROW)} FROM repositories",
    # The namespace of a webhook key: the text before its first "/" (the whole key if none).
    "CREATE INDEX ix_webhook_subscriptions_namespace_created ON webhook_subscriptions"
    " (substr(key, 1, instr(key || '/', '/') - 1), created_at, id)",
]

_SQLITE_DOWN = [
    "DROP INDEX IF EXISTS ix_webhook_subscriptions_namespace_created",
    "DROP TRIGGER IF EXISTS repository_search_ai",
    "DROP TRIGGER IF EXISTS repository_search_ad",
    "DROP TRIGGER IF EXISTS repository_search_au",
    "DROP TABLE IF EXISTS repository_search_fts",
    "DROP TABLE IF EXISTS repository_search",
]

_PG_INDEXES = [
    "CREATE INDEX ix_repositories_search_name ON repositories"
    f" USING gin ({_NAME.format_map(_ROW)} gin_trgm_ops)",
    "CREATE INDEX ix_repositories_search_description ON repositories"
    f" USING gin ({_DESCRIPTION.format_map(_ROW)} gin_trgm_ops)",
]

_PG_NAMESPACE = (
    "CREATE INDEX ix_webhook_subscriptions_namespace_created ON webhook_subscriptions"
    " (split_part(key, '/', 1), created_at, id)"
)


def _pg_trigrams() -> bool:
    """pg_trgm is there, or could be created here (a savepoint keeps a refusal from aborting
    the migration's transaction)."""
    bind = op.get_bind()
    if bind.scalar(text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")):
        return True
    savepoint = bind.begin_nested()
    try:
        bind.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except DBAPIError:  # no privilege, or not installed: the search reads rows
        savepoint.rollback()
        return False
    savepoint.commit()
    return True


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE:
            op.execute(statement)
        return
    if _pg_trigrams():
        for statement in _PG_INDEXES:
            op.execute(statement)
    op.execute(_PG_NAMESPACE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_DOWN:
            op.execute(statement)
        return
    op.execute("DROP INDEX IF EXISTS ix_webhook_subscriptions_namespace_created")
    op.execute("DROP INDEX IF EXISTS ix_repositories_search_description")
    op.execute("DROP INDEX IF EXISTS ix_repositories_search_name")
