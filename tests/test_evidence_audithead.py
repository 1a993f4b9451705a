"""The workbench's audit chain head in the custody chain: recorded when it moved, time-stamped
with the custody head, written by the workbench at start, stop and periodically, and
checked by `custody verify`, which catches an audit history rewritten with fresh hashes."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tsa import LocalTSA
from workbench_server import InThread, login

from conftest import adarchive, migrated_sqlite
from crawler.evidence.anchor import anchor_head
from crawler.evidence.audithead import AUDIT_HEAD, check_audit, record_audit_head
from crawler.evidence.chain import GENESIS_HASH, event_hash, rfc3339, sha256_hex
from crawler.store.db import open_store
from crawler.store.models import AuditEvent, utc
from crawler.workbench import anchoring, audit
from crawler.workbench.accounts import add_user
from crawler.workbench.app import create_app

PASSWORD = "a long enough password"


@pytest.fixture(scope="module")
def tsa() -> Iterator[LocalTSA]:
    with LocalTSA() as authority:
        yield authority


def _heads(db: Path) -> list[dict[str, object]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT details FROM custody_event WHERE action = ? ORDER BY seq", (AUDIT_HEAD,)
        ).fetchall()
    return [json.loads(d) for (d,) in rows]


def _rewrite_audit_from(db: Path | str, seq: int, details: str) -> None:
    """What someone with write access to the store would do: edit an audit event and
    recompute every hash after it, so the audit chain alone verifies again."""
    factory = open_store(db if isinstance(db, str) else f"sqlite:///{db}")
    with factory() as s:
        rows = s.query(AuditEvent).filter(AuditEvent.seq >= seq).order_by(AuditEvent.seq).all()
        prev = s.get(AuditEvent, seq - 1)
        prev_hash = prev.hash if prev is not None else GENESIS_HASH
        for row in rows:
            if row.seq == seq:
                row.details = details
                row.details_sha256 = sha256_hex(details.encode())
            at = utc(row.at)
            assert at is not None
            row.prev_hash = prev_hash
            row.hash = event_hash(row.seq, rfc3339(at), row.actor, row.action, row.subject,
                                  row.details_sha256, prev_hash)  # fmt: skip
            prev_hash = row.hash
        s.commit()


def test_head_recorded_when_it_moved_and_time_stamped(tmp_path: Path, tsa: LocalTSA) -> None:
    db = tmp_path / "adarchive.db"
    factory = open_store(migrated_sqlite(db))
    with factory() as s:
        assert record_audit_head(s, "empty") is None  # no audit trail: nothing to record
        for i in range(4):
            audit.append(s, "ana", "search", "ads", {"q": f"word {i}"})
        event = record_audit_head(s, "export test.zip")
        assert event is not None and event.action == AUDIT_HEAD
        assert record_audit_head(s, "again") is None  # the head did not move
        anchored = anchor_head(s, tmp_path, "export test.zip", [tsa.url])
        audit.append(s, "ana", "ad.view", "ad:1", {})
        assert record_audit_head(s, "later") is not None
    heads = _heads(db)
    assert [(h["audit_seq"], h["reason"]) for h in heads] == [(4, "export test.zip"), (5, "later")]
    # the time-stamped anchor is the custody head that carries the audit head
    assert anchored.path is not None and anchored.tokens
    assert json.loads(anchored.path.read_bytes())["seq"] == event.seq

    ok = adarchive("custody", "verify", "--db", str(db), "--tsa-root", str(tsa.ca_pem))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "audit chain intact: 5 events" in ok.stdout
    assert "audit heads in the custody chain: 2" in ok.stdout
    assert "1 with a valid token" in ok.stdout


def test_a_rewritten_audit_history_is_caught_through_the_recorded_head(tmp_path: Path) -> None:
    db = tmp_path / "adarchive.db"
    factory = open_store(migrated_sqlite(db))
    with factory() as s:
        for i in range(6):
            audit.append(s, "ana", "search", "ads", {"q": f"word {i}"})
        record_audit_head(s, "crawl 1 finished")
        audit.append(s, "ana", "ad.view", "ad:3", {})
    before = adarchive("custody", "verify", "--db", str(db))
    assert before.returncode == 0, before.stdout + before.stderr

    # edited and re-chained: the audit chain alone is fooled ...
    _rewrite_audit_from(db, 3, json.dumps({"q": "something else"}))
    with factory() as s:
        assert audit.verify(s).ok
        check = check_audit(s)
    assert check.chain.ok and not check.ok
    # ... custody verify is not: the custody chain recorded the old head
    after = adarchive("custody", "verify", "--db", str(db))
    assert after.returncode == 1
    assert "audit chain intact" in after.stdout
    assert "recorded audit event 6 with hash" in after.stdout
    assert "audit history up to event 6 was rewritten" in after.stdout

    # an edit without re-chaining is caught by the audit chain itself
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE audit_event SET actor = 'someone' WHERE seq = 2")
    plain = adarchive("custody", "verify", "--db", str(db))
    assert plain.returncode == 1 and "audit chain broken at event 2" in plain.stdout

    # a trail cut back below a recorded head names the missing event
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM audit_event WHERE seq >= 5")
    cut = adarchive("custody", "verify", "--db", str(db))
    assert cut.returncode == 1 and "audit event 6, which is missing" in cut.stdout


def test_the_workbench_records_the_head_at_start_periodically_and_at_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "adarchive.db"
    factory = open_store(migrated_sqlite(db))
    with factory() as s:
        add_user(s, "ana", "analyst", PASSWORD)  # no audit event yet: nothing at start
    real = anchoring.setting
    monkeypatch.setattr(anchoring, "setting", lambda name: 0.3 if name ==
                        "ADARCHIVE_WORKBENCH_AUDIT_ANCHOR_INTERVAL" else real(name))  # fmt: skip
    with InThread(create_app(factory, tmp_path, secure_cookies=False)) as srv:
        client = login(srv.url, "ana", PASSWORD)
        assert client.get("/search", params={"q": "piano"}).status_code == 200
        deadline = time.monotonic() + 60
        while not any(h["reason"] == "workbench periodic" for h in _heads(db)):
            assert time.monotonic() < deadline, "no periodic audit head"
            time.sleep(0.1)
        client.close()
    assert _heads(db)[0]["reason"] == "workbench periodic"
    # The stop pass, with the periodic one off: a tick between the last request and the
    # stop would record the head first, and the stop would then have nothing new to record.
    monkeypatch.setattr(anchoring, "setting", lambda name: 0 if name ==
                        "ADARCHIVE_WORKBENCH_AUDIT_ANCHOR_INTERVAL" else real(name))  # fmt: skip
    with InThread(create_app(factory, tmp_path, secure_cookies=False)) as srv:
        client = login(srv.url, "ana", PASSWORD)
        assert client.get("/search", params={"q": "guitar"}).status_code == 200
        client.close()
    heads = _heads(db)
    assert heads[0]["reason"] == "workbench periodic"
    assert heads[-1]["reason"] == "workbench stopped"
    with sqlite3.connect(db) as conn:
        (last,) = conn.execute("SELECT max(seq) FROM audit_event").fetchone()
    assert heads[-1]["audit_seq"] == last  # the stop recorded the final head
    with factory() as s:
        assert check_audit(s).ok


def test_check_audit_on_both_engines(store_url: str) -> None:
    factory = open_store(store_url)
    with factory() as s:
        for i in range(3):
            audit.append(s, "ana", "search", "ads", {"q": f"word {i}"})
        assert record_audit_head(s, "crawl 1 finished") is not None
        assert record_audit_head(s, "crawl 2 finished") is None
        assert check_audit(s).ok
    _rewrite_audit_from(store_url, 2, json.dumps({"q": "other"}))
    with factory() as s:
        check = check_audit(s)
    assert check.chain.ok and check.heads == 1
    assert check.problems and "audit history up to event 3 was rewritten" in check.problems[0]
