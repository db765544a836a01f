"""list indexes: the indexes keyset lists and the catalog need

Revision ID: 0009_list_indexes
Revises: 0008_settings
Create Date: 2026-11-30 23:40:00.000000
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0009_list_indexes'
down_revision: str | None = '0008_settings'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_INDEXES = [
    ('ix_repositories_visibility_order', 'repositories', ['visibility', 'namespace', 'name']),
    ('ix_repositories_namespace_order', 'repositories', ['namespace_id', 'namespace', 'name']),
    ('ix_tags_repository_updated', 'tags', ['repository_id', 'updated_at', 'id']),
    ('ix_webhook_subscriptions_created', 'webhook_subscriptions', ['created_at', 'id']),
    (
        'ix_webhook_subscriptions_author_created',
        'webhook_subscriptions',
        ['author_id', 'created_at', 'id'],
    ),
    ('ix_webhook_subscriptions_key_created', 'webhook_subscriptions', ['key', 'created_at', 'id']),
]


def upgrade() -> None:
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _columns in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
