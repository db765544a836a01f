"""mirroring: push and poll mirroring policies, mirror jobs, the mirroring outbox cursor

Revision ID: 0006_mirroring
Revises: 0005_promotion
Create Date: 2026-11-30 22:20:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dockyard.db.types


revision: str = '0006_mirroring'
down_revision: str | None = '0005_promotion'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('mirroring_policies',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('mirroring_type', sa.String(length=8), nullable=False),
    sa.Column('repository_id', sa.String(length=36), nullable=False),
    sa.Column('rules', sa.JSON(), nullable=False),
    sa.Column('remote_host', sa.String(length=512), nullable=False),
    sa.Column('remote_repository', sa.String(length=512), nullable=False),
    sa.Column('remote_ca', sa.Text(), nullable=False),
    sa.Column('skip_tls_verification', sa.Boolean(), nullable=False),
    sa.Column('tag_template', sa.String(length=255), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('username', sa.String(length=255), nullable=False),
    sa.Column('secret_enc', sa.Text(), nullable=False),
    sa.Column('last_mirrored_at', dockyard.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_status', sa.JSON(), nullable=False),
    sa.Column('remote_digests', sa.JSON(), nullable=False),
    sa.Column('created_at', dockyard.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['repository_id'], ['repositories.id'], name=op.f('fk_mirroring_policies_repository_id_repositories'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mirroring_policies'))
    )
    op.create_index(op.f('ix_mirroring_policies_mirroring_type'), 'mirroring_policies', ['mirroring_type'], unique=False)
    op.create_index(op.f('ix_mirroring_policies_repository_id'), 'mirroring_policies', ['repository_id'], unique=False)
    op.create_table('mirror_jobs',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('policy_id', sa.String(length=36), nullable=True),
    sa.Column('repository_id', sa.String(length=36), nullable=False),
    sa.Column('tag', sa.String(length=128), nullable=False),
    sa.Column('manifest_digest', sa.String(length=200), nullable=False),
    sa.Column('target', sa.JSON(), nullable=False),
    sa.Column('remote_tag', sa.String(length=128), nullable=False),
    sa.Column('next_attempt_at', dockyard.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('lease_token', sa.String(length=36), nullable=True),
    sa.Column('claimed_by', sa.String(length=100), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('created_at', dockyard.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', dockyard.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['policy_id'], ['mirroring_policies.id'], name=op.f('fk_mirror_jobs_policy_id_mirroring_policies'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['repository_id'], ['repositories.id'], name=op.f('fk_mirror_jobs_repository_id_repositories'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mirror_jobs'))
    )
    op.create_index('ix_mirror_jobs_due', 'mirror_jobs', ['status', 'next_attempt_at'], unique=False)
    op.create_index(op.f('ix_mirror_jobs_policy_id'), 'mirror_jobs', ['policy_id'], unique=False)
    op.create_index(op.f('ix_mirror_jobs_repository_id'), 'mirror_jobs', ['repository_id'], unique=False)
    # Push mirroring reads the outbox from here on (pushes before the upgrade are not mirrored).
    op.execute(
        "INSERT INTO outbox_cursors (consumer, seq) "
        "SELECT 'mirroring', COALESCE(MAX(seq), 0) FROM outbox_events"
    )


def downgrade() -> None:
    op.execute("DELETE FROM outbox_cursors WHERE consumer = 'mirroring'")
    op.drop_index(op.f('ix_mirror_jobs_repository_id'), table_name='mirror_jobs')
    op.drop_index(op.f('ix_mirror_jobs_policy_id'), table_name='mirror_jobs')
    op.drop_index('ix_mirror_jobs_due', table_name='mirror_jobs')
    op.drop_table('mirror_jobs')
    op.drop_index(op.f('ix_mirroring_policies_repository_id'), table_name='mirroring_policies')
    op.drop_index(op.f('ix_mirroring_policies_mirroring_type'), table_name='mirroring_policies')
    op.drop_table('mirroring_policies')
