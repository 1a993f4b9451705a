"""search recency: an index on ad_search (last_seen, ad_id) for a page of text hits

On PostgreSQL a text search without column filters counts its hits and then
walks this index newest first, checking each advert against the query, until
its page is full: a common word fills a page after a few hundred rows instead
of every hit being sorted and sent to the server. (SQLite's search pages from
``ad``'s own recency index; the index is made on both engines so the schema
is one.)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 19:10:00
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_ad_search_recent", "ad_search", ["last_seen", "ad_id"])


def downgrade() -> None:
    op.drop_index("ix_ad_search_recent", table_name="ad_search")
