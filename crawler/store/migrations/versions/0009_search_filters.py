"""search filters: normalised name and location on ad_search, a bigram table for short words

``ad_search`` gains the advert's name and location, normalised as its text is
(so a name or location filter means the same on both engines), and copies of
its platform and first sighting (so PostgreSQL filters without a join);
``ad_gram`` holds the two-character sequences of scripts written without
spaces (CJK, kana, Hangul, Thai, ...), where two-character words are common
and a trigram index cannot serve them. Two narrow covering indexes on ``ad``
replace ``ix_ad_last_seen_id``. The index is emptied: the next
``adarchive serve`` rebuilds it (a few seconds per 10,000 adverts).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 15:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM ad_search")  # re-filled by the next refresh, with the new columns
    # Plain ALTER TABLE on both engines: a batch rebuild would drop SQLite's FTS triggers.
    op.add_column("ad_search", sa.Column("name", sa.Text(), nullable=True))
    op.add_column("ad_search", sa.Column("location", sa.Text(), nullable=True))
    # Copies of the advert's platform and first sighting: on PostgreSQL a search
    # with column filters is then one statement over ad_search, with no join.
    op.add_column("ad_search", sa.Column("platform_id", sa.Integer(), nullable=True))
    op.add_column("ad_search", sa.Column("first_seen", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "ad_gram",
        sa.Column("gram", sa.String(length=2), nullable=False),
        sa.Column("ad_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["ad_id"], ["ad.id"], name=op.f("fk_ad_gram_ad_id_ad")),
        sa.PrimaryKeyConstraint("gram", "ad_id", name=op.f("pk_ad_gram")),
    )
    op.create_index(op.f("ix_ad_gram_ad_id"), "ad_gram", ["ad_id"])
    # Narrow covering indexes for the search's column filters, so a count or a
    # page never reads the wide advert rows: by recency (walked newest first
    # when hits are many) and by id (looked up when they are few).
    op.drop_index("ix_ad_last_seen_id", table_name="ad")
    op.create_index("ix_ad_recent", "ad", ["last_seen", "id", "first_seen", "platform_id"])
    op.create_index("ix_ad_keys", "ad", ["id", "last_seen", "first_seen", "platform_id"])


def downgrade() -> None:
    op.drop_index("ix_ad_keys", table_name="ad")
    op.drop_index("ix_ad_recent", table_name="ad")
    op.create_index("ix_ad_last_seen_id", "ad", ["last_seen", "id"])
    op.drop_index(op.f("ix_ad_gram_ad_id"), table_name="ad_gram")
    op.drop_table("ad_gram")
    op.drop_column("ad_search", "first_seen")
    op.drop_column("ad_search", "platform_id")
    op.drop_column("ad_search", "location")
    op.drop_column("ad_search", "name")
