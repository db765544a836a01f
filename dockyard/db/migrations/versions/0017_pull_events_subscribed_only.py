"""pull events: an index that answers whether a repository has a pull subscription

Revision ID: 0017_pull_events
Revises: 0016_ui_daily
Create Date: 2026-12-01 06:10:00.000000
"""
from collections.abc import Sequence

revision: str = '0017_pull_events'
down_revision: str | None = '0016_ui_daily'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
