"""Prepared statements (crawler/store/prepared.py) on SQLite and the real PostgreSQL.

They bypass Core's execution for the crawl's hottest writes, so they must give
exactly what Core gives: the same stored values (datetimes included), the
model's Python-side defaults, and the session's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session, sessionmaker

from crawler.store.db import open_store
from crawler.store.models import Capture, Platform, utc
from crawler.store.prepared import Prepared
from crawler.store.recorder import CAPTURE_COLUMNS, CAPTURE_INSERT
from crawler.store.upsert import get_or_create_id

FETCHED = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)


def capture_params(record_id: str, **overrides: object) -> dict:
    params = dict.fromkeys(CAPTURE_COLUMNS)
    params.update(
        kind="response",
        url="http://127.0.0.11/ad/1",
        fetched_at=FETCHED,
        status=200,
        offset=0,
        length=10,
        record_id=record_id,
        block_sha256="a" * 64,
    )
    params.update(overrides)
    return params


@pytest.fixture
def factory(store_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on the store; closed and disposed, so the schema can be dropped."""
    made = open_store(store_url)
    sessions: list[Session] = []

    def make() -> Session:
        sessions.append(made())
        return sessions[-1]

    yield make  # type: ignore[misc]
    for session in sessions:
        session.close()
    made.kw["bind"].dispose()


def test_insert_returns_ids_and_stores_what_core_reads_back(factory: Callable) -> None:
    session = factory()
    first = CAPTURE_INSERT.scalar(session, capture_params("<urn:uuid:1>"))
    second = CAPTURE_INSERT.scalar(session, capture_params("<urn:uuid:2>", parent_capture_id=1))
    assert isinstance(first, int) and second == first + 1
    session.commit()
    row = session.get(Capture, second)
    assert row is not None
    assert (row.record_id, row.parent_capture_id, row.status) == ("<urn:uuid:2>", first, 200)
    assert utc(row.fetched_at) == FETCHED  # the datetime went through the bind processor


def test_select_applies_result_processors_and_bound_constants(factory: Callable) -> None:
    session = factory()
    CAPTURE_INSERT.scalar(session, capture_params("<urn:uuid:r>"))
    CAPTURE_INSERT.scalar(session, capture_params("<urn:uuid:q>", kind="request"))
    table = Capture.__table__
    query = Prepared(
        select(table.c.record_id, table.c.fetched_at).where(
            table.c.url == bindparam("url"), table.c.kind == "request"
        ),
        ("url",),
    )
    record_id, fetched_at = query.first(session, {"url": "http://127.0.0.11/ad/1"})
    assert record_id == "<urn:uuid:q>"
    assert isinstance(fetched_at, datetime) and utc(fetched_at) == FETCHED
    assert query.first(session, {"url": "http://127.0.0.11/none"}) is None


def test_writes_belong_to_the_session_transaction(factory: Callable) -> None:
    session = factory()
    CAPTURE_INSERT.scalar(session, capture_params("<urn:uuid:rolled-back>"))
    session.rollback()
    assert session.scalar(select(Capture.id)) is None
    CAPTURE_INSERT.scalar(session, capture_params("<urn:uuid:kept>"))
    session.commit()
    other = factory()
    assert other.scalar(select(Capture.record_id)) == "<urn:uuid:kept>"


def test_omitted_columns_get_the_models_python_defaults(factory: Callable) -> None:
    session = factory()
    platform_id, created = get_or_create_id(session, Platform, {"name": "kz_board"})
    again, created_again = get_or_create_id(session, Platform, {"name": "kz_board"})
    session.commit()
    assert (created, created_again, again) == (True, False, platform_id)
    platform = session.get(Platform, platform_id)
    assert platform is not None and platform.created_at is not None


def test_executemany_inserts_every_row(factory: Callable) -> None:
    session = factory()
    many = Prepared(insert(Capture.__table__), CAPTURE_COLUMNS)
    many.executemany(session, [capture_params(f"<urn:uuid:m{n}>") for n in range(5)])
    session.commit()
    assert len(session.scalars(select(Capture.id)).all()) == 5


def test_unsupplied_parameter_is_an_error_when_built() -> None:
    table = Capture.__table__
    statement = select(table.c.id).where(table.c.url == bindparam("url"))
    from sqlalchemy.dialects import sqlite

    with pytest.raises(ValueError, match="url"):
        Prepared(statement, ()).compiled(sqlite.dialect())
