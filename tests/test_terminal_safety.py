"""Issue 14: control characters from pages never reach the operator's terminal raw."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

from test_store_engines import make_pipeline

from conftest import adarchive, migrated_sqlite
from crawler.printable import TerminalSafeStream, install_log_escaping, printable
from crawler.store.recorder import release_store

HOSTILE = "Mira\x1b]0;owned\x07\x1b[2J\u202eevil\rX"


def test_printable_escapes_controls_and_bidi() -> None:
    assert printable(HOSTILE) == "Mira\\x1b]0;owned\\x07\\x1b[2J\\u202eevil\\x0dX"
    assert printable("a" * 50, limit=10) == "a" * 10 + "…(50 chars)"
    assert printable("x\x85\x7fy") == "x\\u0085\\u007fy"
    stream = io.StringIO()
    TerminalSafeStream(stream).write("line\tone\n" + HOSTILE + "\n")
    assert stream.getvalue() == "line\tone\nMira\\x1b]0;owned\\x07\\x1b[2J\\u202eevil\\x0dX\n"


def test_log_lines_escape_page_values() -> None:
    install_log_escaping()
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    log = logging.getLogger("adarchive.test.terminal")
    log.addHandler(handler)
    try:
        log.warning("refused %s: %s", HOSTILE, ValueError(HOSTILE))
        log.warning(f"f-string {HOSTILE}")
    finally:
        log.removeHandler(handler)
    text = out.getvalue()
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert text.count("Mira\\x1b]0;owned\\x07") == 3


def test_identifiers_table_and_json_escape_page_values(tmp_path: Path) -> None:
    db = migrated_sqlite(tmp_path / "store.db")
    pipeline = make_pipeline(db)
    try:
        pipeline.store_ad(
            {
                "platform": "sample_board", "external_id": "1", "url": "http://127.0.0.50/ad/1",
                "fetched_at": datetime(2026, 1, 1, tzinfo=UTC), "name": HOSTILE,
                "identifiers": [{"kind": "telegram", "value": HOSTILE, "match": HOSTILE,
                                 "start": 0, "end": 5, "field": "body"}],
            }
        )  # fmt: skip
        pipeline.recorder.store.commit()
    finally:
        release_store(pipeline.recorder.store)
    for extra in ((), ("--json",)):
        result = adarchive("identifiers", "--db", db, *extra, check=True)
        assert "\x1b" not in result.stdout and "\x07" not in result.stdout
        assert "\u202e" not in result.stdout and "\r" not in result.stdout
        if extra:  # still JSON, the same value once parsed
            row = json.loads(result.stdout.splitlines()[0])
            assert row["value"] == HOSTILE
        else:
            assert "Mira\\x1b]0;owned\\x07\\x1b[2J\\u202eevil\\x0dX" in result.stdout
