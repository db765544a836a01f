"""web UI daily use

Revision ID: 0016_ui_daily
Revises: 0015_search_index
Create Date: 2026-12-01 03:00:00.000000
"""
from collections.abc import Sequence

revision: str = '0016_ui_daily'
down_revision: str | None = '0015_search_index'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
