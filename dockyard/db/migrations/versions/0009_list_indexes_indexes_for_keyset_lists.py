"""list indexes: the indexes keyset lists and the catalog need

Revision ID: 0009_list_indexes
Revises: 0008_settings
Create Date: 2026-11-30 23:40:00.000000
"""
from collections.abc import Sequence

revision: str = '0009_list_indexes'
down_revision: str | None = '0008_settings'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
