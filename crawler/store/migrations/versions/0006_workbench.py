"""workbench: users, sessions, audit trail, advert search index, link decisions

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 12:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workbench_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workbench_user")),
        sa.UniqueConstraint("name", name=op.f("uq_workbench_user_name")),
    )
    op.create_table(
        "workbench_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["workbench_user.id"],
            name=op.f("fk_workbench_session_user_id_workbench_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workbench_session")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_workbench_session_token_sha256")),
    )
    op.create_index(op.f("ix_workbench_session_user_id"), "workbench_session", ["user_id"])
    op.create_table(
        "audit_event",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("details_sha256", sa.String(length=64), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_event")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_event_hash")),
    )
    op.create_index(op.f("ix_audit_event_at"), "audit_event", ["at"])
    op.create_index(op.f("ix_audit_event_actor"), "audit_event", ["actor"])
    op.create_index(op.f("ix_audit_event_action"), "audit_event", ["action"])
    op.create_table(
        "ad_search",
        sa.Column("ad_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("text_sha256", sa.String(length=64), nullable=True),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=True),
        sa.Column("doc", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["ad_id"], ["ad.id"], name=op.f("fk_ad_search_ad_id_ad")),
        sa.PrimaryKeyConstraint("ad_id", name=op.f("pk_ad_search")),
    )
    op.create_table(
        "link_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ad_a", sa.Integer(), nullable=False),
        sa.Column("ad_b", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["ad_a"], ["ad.id"], name=op.f("fk_link_decision_ad_a_ad")),
        sa.ForeignKeyConstraint(["ad_b"], ["ad.id"], name=op.f("fk_link_decision_ad_b_ad")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_decision")),
    )
    op.create_index(op.f("ix_link_decision_ad_a"), "link_decision", ["ad_a"])
    op.create_index("ix_ad_last_seen_id", "ad", ["last_seen", "id"])
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # Trigram tokens work for every script (Japanese, Korean, Thai have no
        # spaces between words). The text is case-folded in Python before it is
        # stored, so the index itself is case-sensitive (same as PostgreSQL's).
        op.execute(
            "CREATE VIRTUAL TABLE ad_fts USING fts5(doc, content='ad_search', "
            "content_rowid='ad_id', tokenize='trigram case_sensitive 1')"
        )
        op.execute(
            "CREATE TRIGGER ad_fts_insert AFTER INSERT ON ad_search BEGIN "
            "INSERT INTO ad_fts(rowid, doc) VALUES (new.ad_id, new.doc); END"
        )
        op.execute(
            "CREATE TRIGGER ad_fts_delete AFTER DELETE ON ad_search BEGIN "
            "INSERT INTO ad_fts(ad_fts, rowid, doc) VALUES ('delete', old.ad_id, old.doc); END"
        )
        op.execute(
            "CREATE TRIGGER ad_fts_update AFTER UPDATE ON ad_search BEGIN "
            "INSERT INTO ad_fts(ad_fts, rowid, doc) VALUES ('delete', old.ad_id, old.doc); "
            "INSERT INTO ad_fts(rowid, doc) VALUES (new.ad_id, new.doc); END"
        )
    elif bind.dialect.name == "postgresql":
        # pg_trgm lives in the public schema once per database; the operator
        # class is named with its schema so stores in other schemas find it.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
        op.execute(
            "CREATE INDEX ix_ad_search_doc_trgm ON ad_search USING gin (doc public.gin_trgm_ops)"
        )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for trigger in ("ad_fts_insert", "ad_fts_delete", "ad_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS ad_fts")
    op.drop_table("ad_search")
    op.drop_index("ix_ad_last_seen_id", table_name="ad")
    op.drop_index(op.f("ix_link_decision_ad_a"), table_name="link_decision")
    op.drop_table("link_decision")
    op.drop_index(op.f("ix_audit_event_action"), table_name="audit_event")
    op.drop_index(op.f("ix_audit_event_actor"), table_name="audit_event")
    op.drop_index(op.f("ix_audit_event_at"), table_name="audit_event")
    op.drop_table("audit_event")
    op.drop_index(op.f("ix_workbench_session_user_id"), table_name="workbench_session")
    op.drop_table("workbench_session")
    op.drop_table("workbench_user")
