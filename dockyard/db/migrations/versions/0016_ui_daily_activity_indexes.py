"""ui daily: outbox indexes for a repository's and a namespace's activity, newest first

Revision ID: 0016_ui_daily
Revises: 0015_search_index
Create Date: 2026-12-01 03:00:00.000000
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0016_ui_daily'
down_revision: str | None = '0015_search_index'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The Activity pages read one repository's (or namespace's) events, newest first, a page at a
# time: each index serves that order, so a page reads its own rows, not the outbox.
_INDEXES = [
    ('ix_outbox_events_repository', 'outbox_events', ['repository_key', 'seq']),
    ('ix_outbox_events_namespace', 'outbox_events', ['namespace_key', 'seq']),
]


def upgrade() -> None:
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _columns in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
