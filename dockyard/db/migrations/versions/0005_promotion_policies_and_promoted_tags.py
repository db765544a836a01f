"""promotion: promotion policies, promoted tags (promotion chains), the promotion outbox cursor

Revision ID: 0005_promotion
Revises: 0004_scanning
Create Date: 2026-11-30 22:10:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dockyard.db.types


revision: str = '0005_promotion'
down_revision: str | None = '0004_scanning'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('promotion_policies',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('source_repository_id', sa.String(length=36), nullable=False),
    sa.Column('target_repository_id', sa.String(length=36), nullable=False),
    sa.Column('rules', sa.JSON(), nullable=False),
    sa.Column('tag_template', sa.String(length=255), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('last_promoted_at', dockyard.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', dockyard.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', dockyard.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['source_repository_id'], ['repositories.id'], name=op.f('fk_promotion_policies_source_repository_id_repositories'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['target_repository_id'], ['repositories.id'], name=op.f('fk_promotion_policies_target_repository_id_repositories'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_promotion_policies'))
    )
    with op.batch_alter_table('promotion_policies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_promotion_policies_source_repository_id'), ['source_repository_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_promotion_policies_target_repository_id'), ['target_repository_id'], unique=False)

    op.create_table('promoted_tags',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('repository_id', sa.String(length=36), nullable=False),
    sa.Column('tag', sa.String(length=128), nullable=False),
    sa.Column('manifest_digest', sa.String(length=200), nullable=False),
    sa.Column('chain', sa.JSON(), nullable=False),
    sa.Column('created_at', dockyard.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['repository_id'], ['repositories.id'], name=op.f('fk_promoted_tags_repository_id_repositories'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_promoted_tags')),
    sa.UniqueConstraint('repository_id', 'tag', name=op.f('uq_promoted_tags_repository_id_tag'))
    )
    # Promotion reads the outbox from here on (no policy exists yet, so nothing is missed).
    op.execute(
        "INSERT INTO outbox_cursors (consumer, seq) "
        "SELECT 'promotion', COALESCE(MAX(seq), 0) FROM outbox_events"
    )


def downgrade() -> None:
    op.execute("DELETE FROM outbox_cursors WHERE consumer = 'promotion'")
    op.drop_table('promoted_tags')
    with op.batch_alter_table('promotion_policies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_promotion_policies_target_repository_id'))
        batch_op.drop_index(batch_op.f('ix_promotion_policies_source_repository_id'))
    op.drop_table('promotion_policies')
