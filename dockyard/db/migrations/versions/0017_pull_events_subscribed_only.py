"""pull events: an index that answers whether a repository has a pull subscription

No schema change: the existing ix_webhook_subscriptions_match (event_type, key, inactive)
already answers it. A pull records TAG_PULL/MANIFEST_PULL events only while a live subscription
of those types could match it (DOCKYARD_PULL_EVENTS=subscribed), checked by an EXISTS in the
pull's own SELECT (registry/preload.py) over (type in the two pull types) x (key in the
repository's, its namespace's, global) x (inactive false): six searches of that covering index
(SQLite's plan; tests/unit/registry/test_pull_events.py checks it), so a second index on the same
columns would only cost writes. The revision stays, as the history's name for the change.

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
