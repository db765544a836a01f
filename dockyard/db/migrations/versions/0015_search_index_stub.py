"""repository search index

Revision ID: 0015_search_index
Revises: 0014_replicas
Create Date: 2026-12-01 03:00:00.000000
"""
from collections.abc import Sequence

revision: str = '0015_search_index'
down_revision: str | None = '0014_replicas'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
