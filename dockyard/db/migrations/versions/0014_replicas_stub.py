"""several nodes (replicas, shared signing keys)

Revision ID: 0014_replicas
Revises: 0013_s3_uploads
Create Date: 2026-12-01 03:00:00.000000
"""
from collections.abc import Sequence

revision: str = '0014_replicas'
down_revision: str | None = '0013_s3_uploads'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
