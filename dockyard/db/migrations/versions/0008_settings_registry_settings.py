"""settings: registry settings changed through /api/v0/meta/settings

Revision ID: 0008_settings
Revises: 0007_pruning
Create Date: 2026-11-30 23:40:00.000000
"""
from collections.abc import Sequence

revision: str = '0008_settings'
down_revision: str | None = '0007_pruning'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
