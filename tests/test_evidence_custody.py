"""The custody hash chain: append, verify, redaction, tampering, concurrent writers."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text

from conftest import migrated_sqlite
from crawler.evidence.canonical import canonical_bytes
from crawler.evidence.custody import (
    GENESIS_HASH,
    event_record,
    record_event,
    rfc3339,
    sha256_hex,
    verify_chain,
    verify_store_chain,
)
from crawler.store.db import open_store
from crawler.store.models import CustodyEvent


@pytest.fixture
def factory(tmp_path: Path):  # type: ignore[no-untyped-def]
    return open_store(migrated_sqlite(tmp_path / "store.db"), create=True)


def _fill(factory, n: int = 5) -> list[CustodyEvent]:  # type: ignore[no-untyped-def]
    with factory() as session:
        events = [
            record_event(session, "test.event", f"thing:{i}", {"i": i, "note": f"n{i}"}, actor="t")
            for i in range(n)
        ]
    return events


def test_chain_links_and_hash_formula(factory) -> None:  # type: ignore[no-untyped-def]
    events = _fill(factory, 3)
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[0].prev_hash == GENESIS_HASH
    assert events[1].prev_hash == events[0].hash
    first = events[0]
    assert first.details == '{"i":0,"note":"n0"}'
    assert first.details_sha256 == sha256_hex(b'{"i":0,"note":"n0"}')
    # The hash is SHA-256 over the JCS text of exactly these fields.
    expected_text = canonical_bytes(
        {
            "seq": 1,
            "at": rfc3339(first.at),
            "actor": "t",
            "action": "test.event",
            "subject": "thing:0",
            "details_sha256": first.details_sha256,
            "prev_hash": GENESIS_HASH,
        }
    )
    assert first.hash == sha256_hex(expected_text)
    assert rfc3339(first.at).endswith("Z") and len(rfc3339(first.at)) == 27


def test_store_chain_verifies_and_names_first_edited_event(factory) -> None:  # type: ignore[no-untyped-def]
    _fill(factory, 5)
    with factory() as session:
        assert verify_store_chain(session, batch=2).ok
        session.execute(
            text("UPDATE custody_event SET details = :d WHERE seq = 3"), {"d": '{"i":99}'}
        )
        session.commit()
        result = verify_store_chain(session, batch=2)
    assert not result.ok and result.broken_seq == 3
    assert "details" in result.reason


def test_deleted_event_is_named(factory) -> None:  # type: ignore[no-untyped-def]
    _fill(factory, 5)
    with factory() as session:
        session.execute(text("DELETE FROM custody_event WHERE seq = 2"))
        session.commit()
        result = verify_store_chain(session)
    assert not result.ok and result.broken_seq == 3
    assert "missing" in result.reason


def test_edited_actor_breaks_hash(factory) -> None:  # type: ignore[no-untyped-def]
    _fill(factory, 4)
    with factory() as session:
        session.execute(text("UPDATE custody_event SET actor = 'someone' WHERE seq = 4"))
        session.commit()
        result = verify_store_chain(session)
    assert (result.ok, result.broken_seq) == (False, 4)


def test_redacted_records_still_verify(factory) -> None:  # type: ignore[no-untyped-def]
    _fill(factory, 4)
    with factory() as session:
        rows = session.scalars(select(CustodyEvent).order_by(CustodyEvent.seq)).all()
        records = [event_record(r, redact=r.seq % 2 == 0) for r in rows]
    lines = [json.loads(json.dumps(r)) for r in records]
    assert "details" not in lines[1] and lines[1]["redacted"] is True
    assert verify_chain(lines).ok
    lines[0]["details"]["i"] = 7
    result = verify_chain(lines)
    assert (result.ok, result.broken_seq) == (False, 1)


def test_a_forged_redacted_digest_breaks_the_hash(factory) -> None:  # type: ignore[no-untyped-def]
    _fill(factory, 3)
    with factory() as session:
        rows = session.scalars(select(CustodyEvent).order_by(CustodyEvent.seq)).all()
        lines = [event_record(r, redact=True) for r in rows]
    lines[1]["details_sha256"] = "f" * 64
    assert verify_chain(lines).broken_seq == 2


def test_concurrent_writers_never_fork_the_chain(factory) -> None:  # type: ignore[no-untyped-def]
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            with factory() as session:
                for i in range(15):
                    record_event(session, "race", f"w{n}", {"i": i}, actor=f"w{n}")
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with factory() as session:
        result = verify_store_chain(session)
        seqs = session.scalars(select(CustodyEvent.seq).order_by(CustodyEvent.seq)).all()
    assert result.ok and result.events == 60
    assert seqs == list(range(1, 61))


def test_duplicate_seq_fails_loudly(factory) -> None:  # type: ignore[no-untyped-def]
    """A writer that read a stale head cannot add a second event with the same seq."""
    from sqlalchemy.exc import IntegrityError

    _fill(factory, 1)
    with factory() as first, factory() as stale:
        record_event(first, "x", "s", {}, actor="first")  # takes seq 2
        stale.add(
            CustodyEvent(
                seq=2, at=datetime.now(UTC), actor="stale", action="x", subject="s",
                details="{}", details_sha256=sha256_hex(b"{}"), prev_hash="0" * 64, hash="1" * 64,
            )
        )  # fmt: skip
        with pytest.raises(IntegrityError):
            stale.flush()
