"""workbench: TOTP second factor, pending two-step log-ins, refusals in crawl progress

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 15:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workbench_totp",
        sa.Column("user_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        sa.Column("last_step", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["workbench_user.id"],
            name=op.f("fk_workbench_totp_user_id_workbench_user"),
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_workbench_totp")),
    )
    op.create_table(
        "workbench_pending_login",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["workbench_user.id"],
            name=op.f("fk_workbench_pending_login_user_id_workbench_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workbench_pending_login")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_workbench_pending_login_token_sha256")),
    )
    op.create_index(
        op.f("ix_workbench_pending_login_user_id"), "workbench_pending_login", ["user_id"]
    )
    with op.batch_alter_table("crawl_progress") as batch:
        batch.add_column(sa.Column("refusals_json", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("crawl_progress") as batch:
        batch.drop_column("refusals_json")
    op.drop_index(op.f("ix_workbench_pending_login_user_id"), table_name="workbench_pending_login")
    op.drop_table("workbench_pending_login")
    op.drop_table("workbench_totp")
