"""The store: migrations agree with the models; URLs resolve as documented."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from crawler.store.db import (
    MIGRATIONS_DIR,
    StoreError,
    make_engine,
    open_store,
    resolve_db_url,
    schema_heads,
    upgrade_schema,
)
from crawler.store.models import Base, in_models


def test_migrations_match_models(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade_schema(engine)
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"include_name": in_models}), Base.metadata
        )
    assert diff == []


def test_schema_heads_read_from_the_files_are_alembics(tmp_path: Path) -> None:
    # Stores are checked against schema_heads() without loading Alembic: it must never drift.
    from alembic.script import ScriptDirectory

    assert schema_heads() == set(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads())
    engine = make_engine(f"sqlite:///{tmp_path / 'behind.db'}")
    upgrade_schema(engine, "0011")
    open_store(str(engine.url), create=False).kw["bind"].dispose()  # an older store: upgraded
    with engine.connect() as conn:
        assert set(MigrationContext.configure(conn).get_current_heads()) == schema_heads()


def test_a_new_sqlite_store_is_the_migrations_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With ADARCHIVE_STORE_TEMPLATES, new stores are copies of one the migrations made
    # (crawler.store.db._new_sqlite_store): the same tables, indexes and triggers as
    # migrating in place, at the newest revision.
    import sqlite3

    monkeypatch.setenv("ADARCHIVE_STORE_TEMPLATES", str(tmp_path / "templates"))
    migrated = make_engine(f"sqlite:///{tmp_path / 'migrated.db'}")
    upgrade_schema(migrated)
    migrated.dispose()
    open_store(f"sqlite:///{tmp_path / 'new.db'}").kw["bind"].dispose()

    def shape(path: Path) -> tuple[set[tuple[str, str, str]], list[tuple[str]]]:
        with sqlite3.connect(path) as conn:
            names = set(conn.execute("SELECT type, name, tbl_name FROM sqlite_master"))
            return names, conn.execute("SELECT version_num FROM alembic_version").fetchall()

    assert shape(tmp_path / "new.db") == shape(tmp_path / "migrated.db")
    assert len(list((tmp_path / "templates").glob("empty-*.db"))) == 1  # the copy's source
    monkeypatch.delenv("ADARCHIVE_STORE_TEMPLATES")  # unset: migrated in place, no template
    open_store(f"sqlite:///{tmp_path / 'third.db'}").kw["bind"].dispose()
    assert shape(tmp_path / "third.db") == shape(tmp_path / "migrated.db")
    assert shape(tmp_path / "new.db")[1] == [(head,) for head in schema_heads()]


def test_resolve_db_url_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADARCHIVE_DB", raising=False)
    assert resolve_db_url(None, None) == "sqlite:///adarchive-data/adarchive.db"
    assert resolve_db_url(None, tmp_path) == f"sqlite:///{tmp_path}/adarchive.db"
    assert resolve_db_url(str(tmp_path / "x.db")) == f"sqlite:///{tmp_path}/x.db"
    monkeypatch.setenv("ADARCHIVE_DB", "postgresql+psycopg://u@h/db")
    assert resolve_db_url(None, tmp_path) == "postgresql+psycopg://u@h/db"
    assert resolve_db_url("sqlite:///a.db", tmp_path) == "sqlite:///a.db"


def test_read_only_open_refuses_missing_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no store at"):
        open_store(f"sqlite:///{tmp_path / 'none.db'}", create=False)
    assert not (tmp_path / "none.db").exists()


def test_bad_url_is_store_error() -> None:
    with pytest.raises(StoreError, match="bad database URL"):
        make_engine("::::")
