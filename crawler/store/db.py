"""Engine and session set-up, and the one rule for which store a command uses.

``--db URL`` beats ``ADARCHIVE_DB``, which beats ``<out>/adarchive.db`` (for
commands with ``--out``), which beats ``./adarchive-data/adarchive.db``.
A plain path is taken as a SQLite file.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from crawler.resources import resource_dir

DEFAULT_DATA_DIR = Path("adarchive-data")
DB_FILENAME = "adarchive.db"
MIGRATIONS_DIR = resource_dir("crawler.store", "migrations")


# PostgreSQL URLs that name a driver this install lacks (psycopg 2) or no real dialect.
WRONG_DIALECTS = ("postgres", "postgresql", "postgresql+psycopg2", "postgres+psycopg")


class StoreError(RuntimeError):
    """The store cannot be used; the message is one line for the user."""


def resolve_db_url(db: str | None = None, out: str | Path | None = None) -> str:
    """The store URL a command should use (see module docstring)."""
    if db:
        return _as_url(db)
    from crawler.configuration import setting

    configured = setting("ADARCHIVE_DB")  # the configuration file or the environment
    if configured:
        return _as_url(configured)
    base = Path(out) if out is not None else DEFAULT_DATA_DIR
    return _as_url(str(base / DB_FILENAME))


def _as_url(value: str) -> str:
    if "://" in value:
        return value
    return f"sqlite:///{Path(value).expanduser()}"


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for other engines / in-memory."""
    parsed = make_url(url)
    if (
        parsed.get_backend_name() != "sqlite"
        or not parsed.database
        or parsed.database == ":memory:"
    ):
        return None
    return Path(parsed.database)


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def make_engine(url: str, *, create: bool = True) -> Engine:
    """An engine for ``url``; with ``create=False`` a missing SQLite file is an error.

    Read-only commands pass ``create=False`` so a typo in a path never
    silently creates an empty store.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(
            f"bad database URL {url!r} (expected e.g. sqlite:///path/adarchive.db)"
        ) from None
    if parsed.drivername in WRONG_DIALECTS:
        right = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=True)
        raise StoreError(
            f"store URL {parsed.render_as_string(hide_password=True)!r}: the PostgreSQL dialect "
            f"this install has is postgresql+psycopg:// (use {right})"
        )
    path = sqlite_path(url)
    if path is not None:
        if not create and not path.exists():
            raise StoreError(
                f"no store at {path}: only `adarchive crawl` and `adarchive db upgrade --db URL` "
                "create a store (or pass --db URL of an existing one)"
            )
        if create:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create store directory {path.parent}: {exc.strerror}"
                ) from None
            if not os.access(path.parent, os.W_OK):
                raise StoreError(f"store directory {path.parent} is not writable")
    try:
        engine = create_engine(parsed, future=True)
    except (ArgumentError, ImportError, SQLAlchemyError) as exc:
        raise StoreError(f"cannot use database URL {url!r}: {exc}".splitlines()[0]) from None
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def upgrade_schema(engine: Engine, revision: str = "head") -> None:
    """Bring the store to the newest schema (or ``revision``) with the Alembic migrations."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # The connection is handed over below; the URL is only informative (% escaped for configparser).
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string().replace("%", "%%"))
    try:
        with engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:
                # Batch migrations rebuild SQLite tables (copy, drop, rename): SQLite's
                # documented procedure wants foreign keys off meanwhile, checked after.
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                conn.commit()
            try:
                with conn.begin():
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, revision)
                    if sqlite:
                        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                        if broken:
                            raise StoreError(f"schema upgrade broke references: {broken[:3]}")
            finally:
                if sqlite:
                    conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                    conn.commit()
    except OperationalError as exc:
        raise StoreError(f"cannot open store {engine.url!r}: {exc.orig}".splitlines()[0]) from None


def open_store(url: str, *, create: bool = True) -> sessionmaker[Session]:
    """A session factory for a store that exists (or is created) at the newest schema."""
    engine = make_engine(url, create=create)
    if create:
        ensure_schema(engine)
    else:
        try:
            tables = set(inspect(engine).get_table_names())
        except OperationalError as exc:
            raise StoreError(
                f"cannot open store {engine.url!r}: {exc.orig}".splitlines()[0]
            ) from None
        if "ad" not in tables:
            raise StoreError(f"{engine.url!r} is not an adarchive store (no 'ad' table)")
        if not _at_head(engine):
            upgrade_schema(engine)  # an existing store made by an older version: bring it up
    return sessionmaker(engine, expire_on_commit=False)


def ensure_schema(engine: Engine) -> None:
    """Create the store, or bring it to the newest schema, unless it is there already.

    The check reads one row; Alembic (about 0.3 s of CPU to load and run) only loads
    when there is a migration to run. With ``ADARCHIVE_STORE_TEMPLATES``, a new SQLite
    store is a copy of an empty one that these very migrations made (:func:`_new_sqlite_store`).
    """
    path = sqlite_path(engine.url.render_as_string(hide_password=False))
    if path is not None and not path.exists():
        from crawler.configuration import setting

        templates = setting("ADARCHIVE_STORE_TEMPLATES")
        if templates:
            _new_sqlite_store(path, Path(templates))  # checked below like any store
    if not _at_head(engine):
        upgrade_schema(engine)


def _new_sqlite_store(path: Path, folder: Path) -> bool:
    """Make ``path`` a copy of an empty store at the newest schema; False if it cannot
    (then the migrations run on it as usual).

    The twelve migrations cost about 0.25 s of CPU on an empty store (SQLite's table
    rebuilds), paid by every first crawl into a new folder. Their result is kept once in
    ``folder`` (``ADARCHIVE_STORE_TEMPLATES``), named by a digest of the migration files, env.py, the
    SQLite library and SQLAlchemy versions: a changed migration makes a new one. Never
    overwrites: a store another process created meanwhile is left alone.
    """
    try:
        template = store_template(folder)
        partial = path.with_name(f".{path.name}.{os.getpid()}.new")
        try:
            shutil.copyfile(template, partial)
            os.link(partial, path)  # fails if the store appeared meanwhile: keep that one
        finally:
            partial.unlink(missing_ok=True)
    except (OSError, SQLAlchemyError, StoreError):
        return False
    return True


@functools.cache
def store_template(folder: Path) -> Path:
    """An empty store in ``folder`` that this code's migrations made, made once per set of
    migrations (for :func:`_new_sqlite_store`, and for tests that copy stores themselves)."""
    import hashlib
    import sqlite3
    import tempfile

    import sqlalchemy

    digest = hashlib.sha256(f"{sqlite3.sqlite_version}/{sqlalchemy.__version__}".encode())
    for source in sorted(MIGRATIONS_DIR.rglob("*.py")):
        digest.update(source.relative_to(MIGRATIONS_DIR).as_posix().encode() + b"\0")
        digest.update(source.read_bytes() + b"\0")
    template = folder / f"empty-{digest.hexdigest()[:24]}.db"
    if template.is_file():
        return template
    folder.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="template-", dir=folder))
    try:
        engine = make_engine(f"sqlite:///{work / 'store.db'}")
        try:
            upgrade_schema(engine)
        finally:
            engine.dispose()  # the last connection closed: the WAL is folded into the file
        os.replace(work / "store.db", template)  # another process's equal copy may win
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return template


def _revisions(engine: Engine) -> set[str]:
    """The store's current revision(s), as Alembic's version table holds them."""
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").fetchall()
    except DBAPIError:
        return set()  # no version table (a new store): Alembic reports no current head
    return {row[0] for row in rows}


def current_revision(engine: Engine) -> str | None:
    """The store's revision (None for a store without one), as Alembic's
    ``get_current_revision`` says it, without loading Alembic."""
    revisions = _revisions(engine)
    if len(revisions) > 1:
        raise StoreError(f"the store is at several revisions at once: {sorted(revisions)}")
    return next(iter(revisions), None)


def _at_head(engine: Engine) -> bool:
    """Whether the store's schema is the newest migration (no upgrade needed)."""
    return _revisions(engine) == schema_heads()


# `revision = "0012"`, `down_revision: str | None = "0011"` (a merge names a tuple).
_REVISION_LINE = re.compile(r"^(revision|down_revision)\b[^=\n]*=(.*)$", re.MULTILINE)
_QUOTED = re.compile(r"""["']([^"']+)["']""")


@functools.cache
def schema_heads() -> frozenset[str]:
    """The newest migration revision(s), read from the migration files as Alembic finds
    them (tests/test_store.py holds the two equal) without loading Alembic."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        found = dict(m.groups() for m in _REVISION_LINE.finditer(path.read_text("utf-8")))
        if "revision" not in found:
            continue
        revisions.update(_QUOTED.findall(found["revision"]))
        parents.update(_QUOTED.findall(found.get("down_revision", "")))
    return frozenset(revisions - parents)


# PostgreSQL's deadlock_detected and serialization_failure: the statement lost a race with
# another transaction, and the same work in a new transaction can succeed.
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})


def transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a lost race with another writer (see :data:`TRANSIENT_SQLSTATES`):
    SQLAlchemy's error around the driver's, or the driver's own (raw-cursor writes)."""
    return any(
        getattr(e, "sqlstate", None) in TRANSIENT_SQLSTATES
        for e in (exc, getattr(exc, "orig", None))
    )


def begin_sqlite_transaction(session: Session) -> None:
    """Make sure SQLite is inside a transaction before a SAVEPOINT.

    pysqlite leaves transactions to SQLite until the first write; a SAVEPOINT
    outside one would open it itself and its RELEASE would commit, past the
    commit hook that fsyncs the WARC file first. BEGIN IMMEDIATE also takes
    the write lock up front (waiting on busy_timeout), so a read-then-write
    inside the savepoint cannot fail on a snapshot another process moved.
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    raw = connection.connection.dbapi_connection
    if raw is not None and not raw.in_transaction:
        raw.execute("BEGIN IMMEDIATE")
