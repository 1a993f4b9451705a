"""schedule runs, crawl progress, watchlists

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 06:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedule_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=True),
        sa.Column("platform", sa.String(length=64), nullable=False),
        sa.Column("running_platform", sa.String(length=64), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("crawl_id", sa.Integer(), nullable=True),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("ads", sa.Integer(), nullable=False),
        sa.Column("new_ads", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("watch_hits", sa.Integer(), nullable=False),
        sa.Column("log_path", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["crawl_id"], ["crawl.id"], name=op.f("fk_schedule_run_crawl_id_crawl")
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"], ["schedule.id"], name=op.f("fk_schedule_run_schedule_id_schedule")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_run")),
        sa.UniqueConstraint("running_platform", name=op.f("uq_schedule_run_running_platform")),
    )
    op.create_index(op.f("ix_schedule_run_platform"), "schedule_run", ["platform"])
    op.create_index(op.f("ix_schedule_run_schedule_id"), "schedule_run", ["schedule_id"])
    op.create_table(
        "crawl_progress",
        sa.Column("crawl_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("ads", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("pending", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["crawl_id"], ["crawl.id"], name=op.f("fk_crawl_progress_crawl_id_crawl")
        ),
        sa.PrimaryKeyConstraint("crawl_id", name=op.f("pk_crawl_progress")),
    )
    op.create_table(
        "watch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=512), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watch")),
        sa.UniqueConstraint("kind", "value", name="uq_watch_kind_value"),
    )
    op.create_table(
        "watch_hit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("watch_id", sa.Integer(), nullable=False),
        sa.Column("ad_id", sa.Integer(), nullable=False),
        sa.Column("capture_id", sa.Integer(), nullable=True),
        sa.Column("crawl_id", sa.Integer(), nullable=True),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["ad_id"], ["ad.id"], name=op.f("fk_watch_hit_ad_id_ad")),
        sa.ForeignKeyConstraint(
            ["capture_id"], ["capture.id"], name=op.f("fk_watch_hit_capture_id_capture")
        ),
        sa.ForeignKeyConstraint(
            ["crawl_id"], ["crawl.id"], name=op.f("fk_watch_hit_crawl_id_crawl")
        ),
        sa.ForeignKeyConstraint(
            ["watch_id"], ["watch.id"], name=op.f("fk_watch_hit_watch_id_watch")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watch_hit")),
        sa.UniqueConstraint("watch_id", "ad_id", name="uq_watch_hit_watch_ad"),
    )
    op.create_index(op.f("ix_watch_hit_ad_id"), "watch_hit", ["ad_id"])
    op.create_index(op.f("ix_watch_hit_watch_id"), "watch_hit", ["watch_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_watch_hit_watch_id"), table_name="watch_hit")
    op.drop_index(op.f("ix_watch_hit_ad_id"), table_name="watch_hit")
    op.drop_table("watch_hit")
    op.drop_table("watch")
    op.drop_table("crawl_progress")
    op.drop_index(op.f("ix_schedule_run_schedule_id"), table_name="schedule_run")
    op.drop_index(op.f("ix_schedule_run_platform"), table_name="schedule_run")
    op.drop_table("schedule_run")
