"""server-side web UI sessions (sign-out and password changes end them)

Revision ID: 0002_ui_sessions
Revises: 0001_initial
Create Date: 2026-11-30 20:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dockyard.db.types


revision: str = '0002_ui_sessions'
down_revision: str | None = '0001_initial'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('ui_sessions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('created_at', dockyard.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', dockyard.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('flash', sa.String(length=255), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_ui_sessions_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ui_sessions'))
    )
    with op.batch_alter_table('ui_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ui_sessions_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ui_sessions_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ui_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ui_sessions_expires_at'))
        batch_op.drop_index(batch_op.f('ix_ui_sessions_account_id'))

    op.drop_table('ui_sessions')
