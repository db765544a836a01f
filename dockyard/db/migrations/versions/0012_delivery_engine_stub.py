"""delivery engine (attempt details, replays)

Revision ID: 0012_delivery_engine
Revises: 0011_webhook_options
Create Date: 2026-12-01 03:00:00.000000
"""
from collections.abc import Sequence

revision: str = '0012_delivery_engine'
down_revision: str | None = '0011_webhook_options'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
