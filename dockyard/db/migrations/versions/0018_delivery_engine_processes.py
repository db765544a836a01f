"""delivery engine: several delivery processes (no schema change unless needed)

Revision ID: 0018_delivery
Revises: 0017_pull_events
Create Date: 2026-12-01 06:10:00.000000
"""
from collections.abc import Sequence

revision: str = '0018_delivery'
down_revision: str | None = '0017_pull_events'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
