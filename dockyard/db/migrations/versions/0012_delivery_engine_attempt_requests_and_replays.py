"""delivery log details and replays: each attempt keeps the request it sent, a delivery says
whether a replay made it

Revision ID: 0012_delivery_engine
Revises: 0011_webhook_options
Create Date: 2026-12-01 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_delivery_engine"
down_revision: str | None = "0011_webhook_options"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.add_column(
            sa.Column("replay", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("webhook_delivery_attempts") as batch:
        batch.add_column(sa.Column("request_headers", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("request_body", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook_delivery_attempts") as batch:
        batch.drop_column("request_body")
        batch.drop_column("request_headers")
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_column("replay")
