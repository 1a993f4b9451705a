"""values of any length: unique keys on SHA-256, capture URL hash index

Page-derived columns lose their length limits (ad.external_id, age, posted,
identifier.value, capture.content_type); the unique keys over them move to
SHA-256 columns filled here for existing rows (ad.external_id_sha256,
identifier.value_sha256, ad_image.url_sha256), and the capture URL index
becomes a hash index on PostgreSQL, whose B-tree entries cannot exceed about
2.7 kB. On SQLite the tables are rebuilt (batch mode; foreign keys are off
during the upgrade, see crawler.store.db.upgrade_schema).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 12:40:00
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BATCH = 1000


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def _fill(table: str, column: str) -> None:
    """Fill ``<column>_sha256`` for every existing row, in batches (any engine)."""
    conn = op.get_bind()
    rows = sa.table(table, sa.column("id"), sa.column(column), sa.column(f"{column}_sha256"))
    last = 0
    while True:
        batch = conn.execute(
            sa.select(rows.c.id, rows.c[column])
            .where(rows.c.id > last)
            .order_by(rows.c.id)
            .limit(BATCH)
        ).all()
        if not batch:
            return
        conn.execute(
            rows.update()
            .where(rows.c.id == sa.bindparam("row_id"))
            .values({f"{column}_sha256": sa.bindparam("digest")}),
            [{"row_id": r[0], "digest": _sha256(r[1] or "")} for r in batch],
        )
        last = batch[-1][0]


def _add_digest(table: str, column: str, constraint: str, key: list[str]) -> None:
    with op.batch_alter_table(table) as batch:
        batch.add_column(sa.Column(f"{column}_sha256", sa.String(length=64), nullable=True))
    _fill(table, column)
    with op.batch_alter_table(table) as batch:
        batch.alter_column(f"{column}_sha256", existing_type=sa.String(length=64), nullable=False)
        batch.drop_constraint(constraint, type_="unique")
        batch.create_unique_constraint(constraint, key)


def upgrade() -> None:
    with op.batch_alter_table("ad") as batch:
        batch.alter_column("external_id", existing_type=sa.String(length=255), type_=sa.Text())
        batch.alter_column("age", existing_type=sa.String(length=64), type_=sa.Text())
        batch.alter_column("posted", existing_type=sa.String(length=255), type_=sa.Text())
    _add_digest(
        "ad", "external_id", "uq_ad_platform_external", ["platform_id", "external_id_sha256"]
    )
    with op.batch_alter_table("identifier") as batch:
        batch.alter_column("value", existing_type=sa.String(length=512), type_=sa.Text())
    _add_digest("identifier", "value", "uq_identifier_kind_value", ["kind", "value_sha256"])
    _add_digest("ad_image", "url", "uq_ad_image_ad_url", ["ad_id", "url_sha256"])
    with op.batch_alter_table("capture") as batch:
        batch.alter_column("content_type", existing_type=sa.String(length=255), type_=sa.Text())
    op.drop_index("ix_capture_url_kind", table_name="capture")
    op.create_index("ix_capture_url", "capture", ["url"], postgresql_using="hash")


def downgrade() -> None:
    op.drop_index("ix_capture_url", table_name="capture")
    op.create_index("ix_capture_url_kind", "capture", ["url", "kind"])
    for table, column, constraint, key in (
        ("ad_image", "url", "uq_ad_image_ad_url", ["ad_id", "url"]),
        ("identifier", "value", "uq_identifier_kind_value", ["kind", "value"]),
        ("ad", "external_id", "uq_ad_platform_external", ["platform_id", "external_id"]),
    ):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(constraint, type_="unique")
            batch.create_unique_constraint(constraint, key)
            batch.drop_column(f"{column}_sha256")
