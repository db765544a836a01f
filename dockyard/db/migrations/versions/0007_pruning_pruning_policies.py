"""pruning: pruning policies and the pruning outbox cursor

Revision ID: 0007_pruning
Revises: 0006_mirroring
Create Date: 2026-11-30 23:40:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dockyard.db.types


revision: str = '0007_pruning'
down_revision: str | None = '0006_mirroring'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('pruning_policies',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('repository_id', sa.String(length=36), nullable=False),
    sa.Column('rules', sa.JSON(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('last_pruned_at', dockyard.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', dockyard.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', dockyard.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['repository_id'], ['repositories.id'], name=op.f('fk_pruning_policies_repository_id_repositories'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pruning_policies'))
    )
    with op.batch_alter_table('pruning_policies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pruning_policies_repository_id'), ['repository_id'], unique=False)

    # Pruning reads the outbox from here on (no policy exists yet, so nothing is missed).
    op.execute(
        "INSERT INTO outbox_cursors (consumer, seq) "
        "SELECT 'pruning', COALESCE(MAX(seq), 0) FROM outbox_events"
    )


def downgrade() -> None:
    op.execute("DELETE FROM outbox_cursors WHERE consumer = 'pruning'")
    with op.batch_alter_table('pruning_policies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pruning_policies_repository_id'))
    op.drop_table('pruning_policies')
