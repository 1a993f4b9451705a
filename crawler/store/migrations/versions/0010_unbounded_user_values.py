"""values people give of any length: watch values keyed on SHA-256, free-text columns unlimited

A watched identifier is normalised like ``identifier.value`` (unlimited since
0005), so ``watch.value`` loses its 512-character limit and its unique key
moves to ``watch.value_sha256`` (filled here for existing rows), as
PostgreSQL's B-tree entries cannot exceed about 2.7 kB. Columns that take a
person's words or a definition's free value lose their limits too, so a long
one is stored instead of failing on PostgreSQL: ``custody_event.actor`` (an
examiner's name), ``platform.language`` (a definition's language tag, whose
pattern has no length bound), ``schedule.cron`` (a valid cron expression can
list every minute) and ``crawl.finish_reason``.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 15:30:00
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BATCH = 1000
UNLIMITED = (
    ("custody_event", "actor", 255),
    ("platform", "language", 16),
    ("schedule", "cron", 128),
    ("crawl", "finish_reason", 64),
)


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def _fill_watch_digests() -> None:
    conn = op.get_bind()
    rows = sa.table("watch", sa.column("id"), sa.column("value"), sa.column("value_sha256"))
    last = 0
    while True:
        batch = conn.execute(
            sa.select(rows.c.id, rows.c.value)
            .where(rows.c.id > last)
            .order_by(rows.c.id)
            .limit(BATCH)
        ).all()
        if not batch:
            return
        conn.execute(
            rows.update()
            .where(rows.c.id == sa.bindparam("row_id"))
            .values(value_sha256=sa.bindparam("digest")),
            [{"row_id": r[0], "digest": _sha256(r[1] or "")} for r in batch],
        )
        last = batch[-1][0]


def upgrade() -> None:
    with op.batch_alter_table("watch") as batch:
        batch.alter_column("value", existing_type=sa.String(length=512), type_=sa.Text())
        batch.add_column(sa.Column("value_sha256", sa.String(length=64), nullable=True))
    _fill_watch_digests()
    with op.batch_alter_table("watch") as batch:
        batch.alter_column("value_sha256", existing_type=sa.String(length=64), nullable=False)
        batch.drop_constraint("uq_watch_kind_value", type_="unique")
        batch.create_unique_constraint("uq_watch_kind_value", ["kind", "value_sha256"])
    for table, column, length in UNLIMITED:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, existing_type=sa.String(length=length), type_=sa.Text())


def downgrade() -> None:
    for table, column, length in UNLIMITED:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, existing_type=sa.Text(), type_=sa.String(length=length))
    with op.batch_alter_table("watch") as batch:
        batch.drop_constraint("uq_watch_kind_value", type_="unique")
        batch.create_unique_constraint("uq_watch_kind_value", ["kind", "value"])
        batch.drop_column("value_sha256")
        batch.alter_column("value", existing_type=sa.Text(), type_=sa.String(length=512))
