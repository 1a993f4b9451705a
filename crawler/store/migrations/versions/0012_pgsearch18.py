"""search words: a word index for PostgreSQL's exact counts (search_word, ad_word)

On PostgreSQL a query word that lies inside one word of the text (letters and
digits of spaced scripts, three or more) is looked up in ``search_word`` (the
vocabulary, with a pg_trgm index: every word containing it) and its adverts
read from ``ad_word``: an exact count of a common word walks one index range
instead of rechecking every trigram candidate's text. Phrases, short words and
unspaced scripts keep the trigram index. SQLite's FTS5 trigram table already
counts from its own lists: there the tables stay empty.

On PostgreSQL the search index is emptied: the next ``adarchive serve``
rebuilds it, words included (a few seconds per 10,000 adverts).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 21:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "search_word",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("word", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_word")),
        sa.UniqueConstraint("word", name=op.f("uq_search_word_word")),
    )
    op.create_table(
        "ad_word",
        sa.Column("word_id", sa.Integer(), nullable=False),
        sa.Column("ad_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["ad_id"], ["ad.id"], name=op.f("fk_ad_word_ad_id_ad")),
        sa.ForeignKeyConstraint(
            ["word_id"], ["search_word.id"], name=op.f("fk_ad_word_word_id_search_word")
        ),
        sa.PrimaryKeyConstraint("word_id", "ad_id", name=op.f("pk_ad_word")),
    )
    op.create_index(op.f("ix_ad_word_ad_id"), "ad_word", ["ad_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_search_word_trgm ON search_word USING gin (word public.gin_trgm_ops)"
        )
        # Re-filled by the next refresh, words included (an advert indexed
        # before has none; the bigrams go too, or re-adding them would clash).
        op.execute("DELETE FROM ad_gram")
        op.execute("DELETE FROM ad_search")


def downgrade() -> None:
    op.drop_index(op.f("ix_ad_word_ad_id"), table_name="ad_word")
    op.drop_table("ad_word")
    op.drop_table("search_word")  # its trigram index goes with it
