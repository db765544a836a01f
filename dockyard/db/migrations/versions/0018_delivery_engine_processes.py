"""delivery engine: several delivery processes (DOCKYARD_DELIVERY_PROCESSES)

No schema change: the processes share the deliveries through the leases the claim stage
already writes (a bumped next_attempt_at and a lease_token); each process keeps its own liveness files. The
revision stays, as the history's name for the change.

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
