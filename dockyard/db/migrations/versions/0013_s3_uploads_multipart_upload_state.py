"""S3 storage: the state of S3 multipart uploads, shared by every replica

Revision ID: 0013_s3_uploads
Revises: 0012_delivery_engine
Create Date: 2026-12-01 03:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013_s3_uploads'
down_revision: str | None = '0012_delivery_engine'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        's3_uploads',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('multipart_id', sa.String(length=1024), nullable=True),
        sa.Column('parts', sa.Text(), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('tail_key', sa.String(length=1024), nullable=True),
        sa.Column('completed', sa.Boolean(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('busy_until', sa.Float(), nullable=True),
        sa.Column('updated_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_s3_uploads')),
    )
    op.create_index(
        op.f('ix_s3_uploads_updated_at'), 's3_uploads', ['updated_at'], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f('ix_s3_uploads_updated_at'), table_name='s3_uploads')
    op.drop_table('s3_uploads')
