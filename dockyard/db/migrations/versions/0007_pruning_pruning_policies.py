"""pruning: pruning policies and the pruning outbox cursor

Revision ID: 0007_pruning
Revises: 0006_mirroring
Create Date: 2026-11-30 23:40:00.000000
"""
from collections.abc import Sequence

revision: str = '0007_pruning'
down_revision: str | None = '0006_mirroring'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
