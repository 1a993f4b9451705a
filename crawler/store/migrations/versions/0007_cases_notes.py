"""workbench notes, tags and cases (case items, events, exports)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "workbench_note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_kind", sa.String(length=16), nullable=False),
        sa.Column("subject_ref", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("removed_by", sa.String(length=255), nullable=True),
        sa.Column("removed_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workbench_note")),
    )
    op.create_index("ix_workbench_note_subject", "workbench_note", ["subject_kind", "subject_ref"])
    op.create_table(
        "workbench_tag",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_kind", sa.String(length=16), nullable=False),
        sa.Column("subject_ref", sa.String(length=64), nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workbench_tag")),
        sa.UniqueConstraint(
            "subject_kind", "subject_ref", "tag", name="uq_workbench_tag_subject_tag"
        ),  # fmt: skip
    )
    op.create_index(op.f("ix_workbench_tag_tag"), "workbench_tag", ["tag"])
    op.create_table(
        "workbench_case",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workbench_case")),
        sa.UniqueConstraint("reference", name=op.f("uq_workbench_case_reference")),
    )
    op.create_table(
        "case_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("added_by", sa.String(length=255), nullable=False),
        sa.Column("added_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["workbench_case.id"], name=op.f("fk_case_item_case_id_workbench_case")
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_item")),
        sa.UniqueConstraint("case_id", "kind", "ref", name="uq_case_item_case_kind_ref"),
    )
    op.create_index(op.f("ix_case_item_case_id"), "case_item", ["case_id"])
    op.create_table(
        "case_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["workbench_case.id"], name=op.f("fk_case_event_case_id_workbench_case")
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_event")),
    )
    op.create_index(op.f("ix_case_event_case_id"), "case_event", ["case_id"])
    op.create_table(
        "case_export",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("bundle_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("report", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["workbench_case.id"], name=op.f("fk_case_export_case_id_workbench_case")
        ),  # fmt: skip
        sa.ForeignKeyConstraint(
            ["bundle_id"], ["case_export.id"], name=op.f("fk_case_export_bundle_id_case_export")
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_export")),
    )
    op.create_index(op.f("ix_case_export_case_id"), "case_export", ["case_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_case_export_case_id"), table_name="case_export")
    op.drop_table("case_export")
    op.drop_index(op.f("ix_case_event_case_id"), table_name="case_event")
    op.drop_table("case_event")
    op.drop_index(op.f("ix_case_item_case_id"), table_name="case_item")
    op.drop_table("case_item")
    op.drop_table("workbench_case")
    op.drop_index(op.f("ix_workbench_tag_tag"), table_name="workbench_tag")
    op.drop_table("workbench_tag")
    op.drop_index("ix_workbench_note_subject", table_name="workbench_note")
    op.drop_table("workbench_note")
