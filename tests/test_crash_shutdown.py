"""SIGTERM stops a real crawl within seconds with a download dripping; a second signal at once."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from crashkit import check_captures, check_custody, query, scan_directory, start_crawl, wait_for

from conftest import adarchive

pytestmark = [pytest.mark.crawl]

STOP_LIMIT = 10.0


def hostile_crawl(web: Any, out: Path) -> Any:
    web.hostile.reset()
    return start_crawl(
        out / "logs", "hostile_board", "--start-url", web.hostile.start_url, "--out", str(out),
        # a total limit far away: the drip would hold a graceful stop for a minute
        "-s", "ADARCHIVE_RESPONSE_TIME_LIMIT=60",
    )  # fmt: skip


def drip_started(web: Any) -> bool:
    return any(e.path == "/ad/drip" for e in web.hostile.request_log)


def test_sigterm_stops_within_limit_with_download_in_flight(
    fixture_web: Any, tmp_path: Path
) -> None:
    proc = hostile_crawl(fixture_web, tmp_path)
    wait_for(lambda: drip_started(fixture_web), 30, proc)
    time.sleep(0.5)
    sent, sent_wall = time.monotonic(), time.time()
    proc.proc.send_signal(signal.SIGTERM)
    out, err = proc.wait(timeout=30)
    took = time.monotonic() - sent
    assert took < STOP_LIMIT, took
    assert proc.proc.returncode == 143, err[-2000:]  # state "stopped" by SIGTERM, no traceback
    assert "Traceback" not in err
    drip = next(e for e in fixture_web.hostile.request_log if e.path == "/ad/drip")
    assert drip.ended is not None and drip.ended - sent_wall < STOP_LIMIT  # connection abandoned
    assert f"abandoned in-flight request {fixture_web.hostile.base_url}/ad/drip" in err
    # every WARC file closed and whole; every capture row backed by its record
    state = scan_directory(tmp_path / "warc")
    assert state.closed and not state.open
    assert check_captures(tmp_path / "adarchive.db", state) > 0
    db = tmp_path / "adarchive.db"
    assert query(db, "SELECT status, finish_reason, state FROM crawl") == [
        ("interrupted", "shutdown", "stopped")
    ]
    assert query(db, "SELECT COUNT(*) FROM warc_file WHERE status = 'closed'")[0][0] == len(
        state.closed
    )
    events = query(db, "SELECT action, details FROM custody_event ORDER BY seq")
    stops = [json.loads(d) for a, d in events if a == "crawl.stop"]
    assert stops[0]["signal"] == "SIGTERM"
    assert any(f"{fixture_web.hostile.base_url}/ad/drip" in s.get("urls", []) for s in stops)
    actions = [a for a, _ in events]
    assert actions.index("crawl.stop") < actions.index("crawl.finished")
    assert "warc.closed" in actions
    check_custody(db)


def test_second_signal_exits_at_once_and_repair_completes(fixture_web: Any, tmp_path: Path) -> None:
    proc = hostile_crawl(fixture_web, tmp_path)
    wait_for(lambda: drip_started(fixture_web), 30, proc)
    proc.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    sent = time.monotonic()
    proc.proc.send_signal(signal.SIGTERM)
    _, err = proc.wait(timeout=30)
    assert time.monotonic() - sent < 2.0
    assert proc.proc.returncode == 130
    assert "second stop signal" in err
    state = scan_directory(tmp_path / "warc")
    db = tmp_path / "adarchive.db"
    check_captures(db, state)
    check_custody(db)
    assert state.open, "an unclean exit leaves the file being written open"
    repaired = adarchive("repair", str(tmp_path), check=True)
    assert "repaired" in repaired.stdout
    after = scan_directory(tmp_path / "warc")
    assert len(after.closed) == len(state.closed) + len(state.open)
    assert [p.name for p in after.open] == [p.name for p in state.open]  # originals kept
    check_captures(db, after)
    check_custody(db)
