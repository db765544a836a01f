"""several nodes: the replicas table (every process's heartbeat) and the shared secrets

Revision ID: 0014_replicas
Revises: 0013_s3_uploads
Create Date: 2026-12-01 03:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from dockyard.db.types import UTCDateTime

revision: str = '0014_replicas'
down_revision: str | None = '0013_s3_uploads'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'replicas',
        sa.Column('id', sa.String(length=100), nullable=False),
        sa.Column('host', sa.String(length=255), nullable=False),
        sa.Column('pid', sa.Integer(), nullable=False),
        sa.Column('version', sa.String(length=64), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('started_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('last_seen_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('db_version', sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_replicas')),
    )
    op.create_index(
        op.f('ix_replicas_last_seen_at'), 'replicas', ['last_seen_at'], unique=False
    )
    op.create_table(
        'shared_secrets',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('value', sa.Text(), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_shared_secrets')),
    )


def downgrade() -> None:
    op.drop_table('shared_secrets')
    op.drop_index(op.f('ix_replicas_last_seen_at'), table_name='replicas')
    op.drop_table('replicas')
