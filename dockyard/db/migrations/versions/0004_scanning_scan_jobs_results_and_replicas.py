"""scanning: scan jobs, image scan results, layer inventories, scanner replicas, outbox cursors

Revision ID: 0004_scanning
Revises: 0003_vulnerability_database
Create Date: 2026-11-30 21:40:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dockyard.db.types


revision: str = '0004_scanning'
down_revision: str | None = '0003_vulnerability_database'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('outbox_cursors',
    sa.Column('consumer', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('consumer', name=op.f('pk_outbox_cursors'))
    )
    # Scan on push reads the outbox from here on: images pushed before scanning existed are
    # scanned on demand (or when pushed again), not all at once on upgrade.
    op.execute(
        "INSERT INTO outbox_cursors (consumer, seq) "
        "SELECT 'scanning', COALESCE(MAX(seq), 0) FROM outbox_events"
    )
    op.create_table('layer_inventories',
    sa.Column('digest', sa.String(length=200), nullable=False),
    sa.Column('findings', sa.JSON(), nullable=False),
    sa.Column('created_at', dockyard.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('digest', name=op.f('pk_layer_inventories'))
    )
    op.create_table('scanner_replicas',
    sa.Column('replica_id', sa.String(length=100), nullable=False),
    sa.Column('db_version', sa.Integer(), nullable=True),
    sa.Column('db_updated_at', dockyard.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', dockyard.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('replica_id', name=op.f('pk_scanner_replicas'))
    )
    op.create_table('image_scans',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('repository_id', sa.String(length=36), nullable=False),
    sa.Column('namespace', sa.String(length=255), nullable=False),
    sa.Column('repository', sa.String(length=255), nullable=False),
    sa.Column('tag', sa.String(length=128), nullable=False),
    sa.Column('manifest_digest', sa.String(length=200), nullable=False),
    sa.Column('os', sa.String(length=64), nullable=False),
    sa.Column('architecture', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('critical', sa.Integer(), nullable=False),
    sa.Column('major', sa.Integer(), nullable=False),
    sa.Column('minor', sa.Integer(), nullable=False),
    sa.Column('max_cvss', sa.Float(), nullable=False),
    sa.Column('db_version', sa.Integer(), nullable=True),
    sa.Column('layers', sa.JSON(), nullable=False),
    sa.Column('components', sa.JSON(), nullable=False),
    sa.Column('findings', sa.JSON(), nullable=False),
    sa.Column('distro', sa.String(length=64), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('check_completed_at', dockyard.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', dockyard.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['repository_id'], ['repositories.id'], name=op.f('fk_image_scans_repository_id_repositories'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_image_scans')),
    sa.UniqueConstraint('repository_id', 'tag', 'manifest_digest', name=op.f('uq_image_scans_repository_id_tag_manifest_digest'))
    )
    with op.batch_alter_table('image_scans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_image_scans_manifest_digest'), ['manifest_digest'], unique=False)
        batch_op.create_index('ix_image_scans_status', ['status'], unique=False)

    op.create_table('scan_jobs',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('repository_id', sa.String(length=36), nullable=True),
    sa.Column('tag', sa.String(length=128), nullable=False),
    sa.Column('manifest_digest', sa.String(length=200), nullable=False),
    sa.Column('os', sa.String(length=64), nullable=False),
    sa.Column('architecture', sa.String(length=64), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('next_attempt_at', dockyard.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('lease_token', sa.String(length=36), nullable=True),
    sa.Column('claimed_by', sa.String(length=100), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('created_at', dockyard.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', dockyard.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['repository_id'], ['repositories.id'], name=op.f('fk_scan_jobs_repository_id_repositories'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scan_jobs'))
    )
    with op.batch_alter_table('scan_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_scan_jobs_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_scan_jobs_repository_id'), ['repository_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('scan_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scan_jobs_repository_id'))
        batch_op.drop_index('ix_scan_jobs_due')

    op.drop_table('scan_jobs')
    with op.batch_alter_table('image_scans', schema=None) as batch_op:
        batch_op.drop_index('ix_image_scans_status')
        batch_op.drop_index(batch_op.f('ix_image_scans_manifest_digest'))

    op.drop_table('image_scans')
    op.drop_table('scanner_replicas')
    op.drop_table('layer_inventories')
    op.drop_table('outbox_cursors')
