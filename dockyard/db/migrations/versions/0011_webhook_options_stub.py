"""webhook subscription options (filters, format, client certificates)

Revision ID: 0011_webhook_options
Revises: 0010_shared_limits
Create Date: 2026-12-01 03:00:00.000000
"""
from collections.abc import Sequence

revision: str = '0011_webhook_options'
down_revision: str | None = '0010_shared_limits'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
