"""crawl finish state, definition health and drift

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 12:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("crawl") as batch:
        batch.add_column(sa.Column("state", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("health_json", sa.Text(), nullable=True))
        batch.add_column(sa.Column("drift_json", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("crawl") as batch:
        batch.drop_column("drift_json")
        batch.drop_column("health_json")
        batch.drop_column("state")
