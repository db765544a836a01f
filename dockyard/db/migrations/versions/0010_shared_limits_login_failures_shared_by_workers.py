"""shared limits: login failures and webhook test sends counted once for every worker

Revision ID: 0010_shared_limits
Revises: 0009_list_indexes
Create Date: 2026-12-01 01:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010_shared_limits'
down_revision: str | None = '0009_list_indexes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'shared_limits',
        sa.Column('scope', sa.String(length=32), nullable=False),
        sa.Column('key', sa.String(length=320), nullable=False),
        sa.Column('hits', sa.Integer(), nullable=False),
        sa.Column('window_start', sa.Float(), nullable=False),
        sa.Column('blocked_until', sa.Float(), nullable=True),
        sa.Column('expires_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('scope', 'key', name=op.f('pk_shared_limits')),
    )
    op.create_index(
        op.f('ix_shared_limits_expires_at'), 'shared_limits', ['expires_at'], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f('ix_shared_limits_expires_at'), table_name='shared_limits')
    op.drop_table('shared_limits')
