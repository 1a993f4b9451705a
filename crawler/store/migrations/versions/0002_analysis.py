"""analysis: runs, text signatures, links, networks, indicators

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 06:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analysis_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("full", sa.Boolean(), nullable=False),
        sa.Column("config_json", sa.Text(), nullable=False),
        sa.Column("config_sha256", sa.String(length=64), nullable=False),
        sa.Column("stats_json", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analysis_run")),
    )
    op.create_table(
        "ad_text",
        sa.Column("ad_id", sa.Integer(), nullable=False),
        sa.Column("text_sha256", sa.String(length=64), nullable=True),
        sa.Column("params", sa.String(length=64), nullable=False),
        sa.Column("minhash", sa.LargeBinary(), nullable=True),
        sa.Column("chars", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["ad_id"], ["ad.id"], name=op.f("fk_ad_text_ad_id_ad")),
        sa.ForeignKeyConstraint(
            ["run_id"], ["analysis_run.id"], name=op.f("fk_ad_text_run_id_analysis_run")
        ),
        sa.PrimaryKeyConstraint("ad_id", name=op.f("pk_ad_text")),
    )
    op.create_table(
        "link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ad_a", sa.Integer(), nullable=False),
        sa.Column("ad_b", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("capture_a", sa.Integer(), nullable=True),
        sa.Column("capture_b", sa.Integer(), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["ad_a"], ["ad.id"], name=op.f("fk_link_ad_a_ad")),
        sa.ForeignKeyConstraint(["ad_b"], ["ad.id"], name=op.f("fk_link_ad_b_ad")),
        sa.ForeignKeyConstraint(
            ["capture_a"], ["capture.id"], name=op.f("fk_link_capture_a_capture")
        ),
        sa.ForeignKeyConstraint(
            ["capture_b"], ["capture.id"], name=op.f("fk_link_capture_b_capture")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["analysis_run.id"], name=op.f("fk_link_run_id_analysis_run")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link")),
    )
    with op.batch_alter_table("link", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_link_ad_a"), ["ad_a"], unique=False)
        batch_op.create_index(batch_op.f("ix_link_ad_b"), ["ad_b"], unique=False)
        batch_op.create_index(batch_op.f("ix_link_run_id"), ["run_id"], unique=False)

    op.create_table(
        "network",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=32), nullable=False),
        sa.Column("strong", sa.Boolean(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("platforms", sa.Integer(), nullable=False),
        sa.Column("identifiers", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["analysis_run.id"], name=op.f("fk_network_run_id_analysis_run")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_network")),
        sa.UniqueConstraint("label", name=op.f("uq_network_label")),
    )
    op.create_table(
        "ad_network",
        sa.Column("ad_id", sa.Integer(), nullable=False),
        sa.Column("network_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["ad_id"], ["ad.id"], name=op.f("fk_ad_network_ad_id_ad")),
        sa.ForeignKeyConstraint(
            ["network_id"], ["network.id"], name=op.f("fk_ad_network_network_id_network")
        ),
        sa.PrimaryKeyConstraint("ad_id", "network_id", name=op.f("pk_ad_network")),
    )
    with op.batch_alter_table("ad_network", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ad_network_network_id"), ["network_id"], unique=False)

    op.create_table(
        "ad_indicator",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ad_id", sa.Integer(), nullable=False),
        sa.Column("indicator", sa.String(length=64), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("capture_id", sa.Integer(), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["ad_id"], ["ad.id"], name=op.f("fk_ad_indicator_ad_id_ad")),
        sa.ForeignKeyConstraint(
            ["capture_id"], ["capture.id"], name=op.f("fk_ad_indicator_capture_id_capture")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["analysis_run.id"], name=op.f("fk_ad_indicator_run_id_analysis_run")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ad_indicator")),
    )
    with op.batch_alter_table("ad_indicator", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ad_indicator_ad_id"), ["ad_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ad_indicator_indicator"), ["indicator"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ad_indicator", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ad_indicator_indicator"))
        batch_op.drop_index(batch_op.f("ix_ad_indicator_ad_id"))
    op.drop_table("ad_indicator")
    with op.batch_alter_table("ad_network", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ad_network_network_id"))
    op.drop_table("ad_network")
    op.drop_table("network")
    with op.batch_alter_table("link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_link_run_id"))
        batch_op.drop_index(batch_op.f("ix_link_ad_b"))
        batch_op.drop_index(batch_op.f("ix_link_ad_a"))
    op.drop_table("link")
    op.drop_table("ad_text")
    op.drop_table("analysis_run")
