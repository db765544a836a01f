"""S3 storage (multipart upload state)

Revision ID: 0013_s3_uploads
Revises: 0012_delivery_engine
Create Date: 2026-12-01 03:00:00.000000
"""
from collections.abc import Sequence

revision: str = '0013_s3_uploads'
down_revision: str | None = '0012_delivery_engine'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
