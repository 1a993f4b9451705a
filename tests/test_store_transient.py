"""A lost race between two PostgreSQL writers is told apart from a refused row.

The evidence writer tries an advert or image again, in a new transaction, only after
a deadlock or a serialization failure (crawler.store.db.transient): two writers adding
adverts that share identifiers can deadlock on the rows each has inserted. Here the
deadlock is a real one, made on the real server.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from conftest import PG_SERVER, postgres_schema_url
from crawler.store.db import transient

pytestmark = [pytest.mark.postgres]


@pytest.fixture
def engine() -> Iterator[Engine]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_SERVER)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine = create_engine(postgres_schema_url(schema))
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE ident (value text PRIMARY KEY)"))
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def test_a_deadlock_is_transient_and_a_duplicate_is_not(engine: Engine) -> None:
    # Each transaction inserts one value, then the other's: each waits for the other.
    both_inserted = threading.Barrier(2, timeout=10)
    errors: list[BaseException] = []

    def writer(first: str, second: str) -> None:
        try:
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO ident VALUES (:v)"), {"v": first})
                both_inserted.wait()
                conn.execute(text("INSERT INTO ident VALUES (:v)"), {"v": second})
        except DBAPIError as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=writer, args=("+10000000001", "+10000000002")),
        threading.Thread(target=writer, args=("+10000000002", "+10000000001")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    # PostgreSQL breaks the cycle: one transaction fails with a deadlock (its rows undone),
    # and the other goes on and commits both values.
    (deadlock,) = errors
    assert transient(deadlock) and "deadlock detected" in str(deadlock)
    assert transient(deadlock.orig)  # the driver's own error, as raw-cursor writes raise it
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ident")).scalar() == 2
    # Trying the same again is a refusal, not a race: never tried again.
    with pytest.raises(IntegrityError) as refused, engine.begin() as conn:
        conn.execute(text("INSERT INTO ident VALUES ('+10000000001')"))
    assert not transient(refused.value)
    assert not transient(ValueError("not a database error"))
