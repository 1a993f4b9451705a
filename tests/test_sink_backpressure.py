"""A slow evidence writer and a small pipe: the reactor keeps running, nothing is lost.

The writer is made slow on purpose (``ADARCHIVE_EVIDENCE_WRITER_DELAY``, a
test hook that sleeps per message in the child) and its pipe and queue bound
small, so the crawl outruns it all the time. The sink then pauses the engine
instead of blocking the reactor on a full pipe: a LoopingCall heartbeat keeps
ticking while the engine is paused, and every response and advert still
reaches the store.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from conftest import FAST, REPO, adarchive, start_url_args
from crawler.settings import EXTENSIONS

PLATFORM = "kz_board"


def test_slow_writer_pauses_the_crawl_without_blocking_the_reactor_or_losing_evidence(
    fixture_web: Any, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    extensions = {**EXTENSIONS, "heartbeat_extension.Heartbeat": 900}
    env = {"PYTHONPATH": os.pathsep.join([str(REPO / "tests"), os.environ.get("PYTHONPATH", "")])}
    result = adarchive(
        "crawl", PLATFORM, *start_url_args(fixture_web, [PLATFORM]), "--out", str(out), *FAST,
        "-s", "ADARCHIVE_EVIDENCE_PROCESS=True",
        "-s", "ADARCHIVE_EVIDENCE_WRITER_DELAY=0.03",
        "-s", "ADARCHIVE_EVIDENCE_PIPE_SIZE=4096",
        "-s", "ADARCHIVE_EVIDENCE_QUEUE_MAX=16384",
        "-s", f"EXTENSIONS={json.dumps(extensions)}",
        env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    (stats_file,) = (out / "crawl-stats").glob("*.json")
    stats = json.loads(stats_file.read_text())["stats"]
    # The writer fell behind and the engine was paused for it …
    assert stats["adarchive/evidence/backpressure_pauses"] >= 1, stats
    assert stats["adarchive/evidence/queue_max_bytes"] > 16384
    # … while the reactor kept running: the heartbeat ticked during the pauses.
    assert stats["test/heartbeat/ticks_while_paused"] >= 5, stats
    # Nothing dropped: every response received is a response capture, every advert stored.
    with sqlite3.connect(out / "adarchive.db") as conn:
        responses = conn.execute(
            "SELECT COUNT(*) FROM capture WHERE kind IN ('response', 'revisit')"
        ).fetchone()[0]
        ads = conn.execute("SELECT COUNT(*) FROM ad").fetchone()[0]
        orphans = conn.execute("SELECT COUNT(*) FROM ad WHERE capture_id IS NULL").fetchone()[0]
    assert responses == stats["response_received_count"]
    assert stats["adarchive/warc/records"] == 3 * responses
    assert ads == stats["item_scraped_count"] > 0 and orphans == 0
