"""webhook subscription options: tag filter, minimum severity, format, client certificate

Revision ID: 0011_webhook_options
Revises: 0010_shared_limits
Create Date: 2026-12-01 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_webhook_options"
down_revision: str | None = "0010_shared_limits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_COLUMNS = ("tls_client_subject", "tls_client_sealed", "format", "min_severity", "tag_filter")


def upgrade() -> None:
    # Server defaults: existing subscriptions (MSR's) get no filter, the MSR format, no client
    # certificate.
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.add_column(sa.Column("tag_filter", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("min_severity", sa.String(16), nullable=True))
        batch.add_column(sa.Column("format", sa.String(16), nullable=False, server_default="msr"))
        batch.add_column(
            sa.Column("tls_client_sealed", sa.Text(), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("tls_client_subject", sa.String(512), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions") as batch:
        for name in _COLUMNS:
            batch.drop_column(name)
