"""Issue 14: a stop signal stops a crawl within 10 s although its thread is busy parsing.

The hostile board's ``/escape/flood`` listing holds 300,000 advert links:
extracting them and building their requests keeps the crawl's only thread
busy far longer than the stop timeout on this machine. SIGTERM arrives while
it is busy; the crawl must be gone within 10 s with every WARC file closed,
and its crawl row must say how it ended (not ``running``).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

from cli_forkserver import popen

from conftest import FAST, REPO

STOP_WITHIN = 10.0


def test_sigterm_stops_a_crawl_busy_parsing(fixture_web: Any, tmp_path: Path) -> None:
    site = fixture_web.hostile
    site.reset()
    site.escape.flood()  # built before the crawl, so the server answers at once
    env = {k: v for k, v in os.environ.items() if k != "ADARCHIVE_DB"}
    crawl = popen(
        ["crawl", "hostile_board", "--start-url",
         site.base_url + "/escape/flood", "--out", str(tmp_path), *FAST],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not any(e.path == "/escape/flood" for e in site.request_log):
            assert crawl.poll() is None and time.monotonic() < deadline, "flood never fetched"
            time.sleep(0.05)
        time.sleep(1.5)  # the page is in; its parse step is running
        assert crawl.poll() is None
        signalled = time.monotonic()
        crawl.send_signal(signal.SIGTERM)
        _out, err = crawl.communicate(timeout=30)
        took = time.monotonic() - signalled
    finally:
        if crawl.poll() is None:
            crawl.kill()
            crawl.wait()
    assert took < STOP_WITHIN, (took, err[-2000:])
    assert crawl.returncode in (130, 143), err[-2000:]
    warc = tmp_path / "warc"
    assert list(warc.glob("*.warc.gz")), err[-2000:]  # the flood page itself was archived
    assert not list(warc.glob("*.open")), sorted(p.name for p in warc.iterdir())
    # the stop watchdog ended it (the parse step held the crawl thread) and said so in the store
    assert "crawl thread busy" in err, err[-2000:]
    with sqlite3.connect(tmp_path / "adarchive.db") as db:
        rows = db.execute("SELECT status, state, finish_reason, finished_at FROM crawl").fetchall()
    assert len(rows) == 1 and rows[0][:3] == ("interrupted", "stopped", "shutdown"), rows
    assert rows[0][3] is not None
