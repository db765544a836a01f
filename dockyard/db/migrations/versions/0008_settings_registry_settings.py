"""settings: registry settings changed through /api/v0/meta/settings

Revision ID: 0008_settings
Revises: 0007_pruning
Create Date: 2026-11-30 23:40:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dockyard.db.types


revision: str = '0008_settings'
down_revision: str | None = '0007_pruning'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # One row per setting set through the API; a setting without a row has its configured value.
    op.create_table('registry_settings',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.Column('updated_at', dockyard.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_registry_settings'))
    )


def downgrade() -> None:
    op.drop_table('registry_settings')
