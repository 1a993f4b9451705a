"""kill -9 a real crawl at several points: what is on disk holds, --resume completes, repair closes.

After each SIGKILL: closed WARC files are whole, ``*.open`` files' complete
records read back with valid digests (a cut tail is detected), no capture row
points past the bytes on disk, the custody chain verifies. Then ``--resume``
finishes the crawl without fetching again what the store holds, the store is
complete against the fixture web's truth, and ``adarchive repair`` turns the
open files into closed ones, keeping the originals.
"""

from __future__ import annotations

import hashlib
import json
import signal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cli_inprocess import adarchive_here
from crashkit import check_captures, check_custody, query, scan_directory, start_crawl, wait_for

from conftest import FAST, adarchive, crawl_stat

pytestmark = [pytest.mark.crawl]

PLATFORM = "kz_board"
# small files (so some are closed when the kill comes), frequent commits, a slower pace
CRASHY = [
    "-s", "ADARCHIVE_WARC_MAX_SIZE=20000",
    "-s", "ADARCHIVE_STORE_COMMIT_EVERY=2",
    "-s", "DOWNLOAD_DELAY=0.05",
]  # fmt: skip


def platform_requests(web: Any, since: int) -> list[Any]:
    host = urlsplit(web.start_urls[PLATFORM]).hostname
    return [e for e in web.request_log[since:] if e.host == host]


@pytest.mark.parametrize("kill_after", [3, 9, 16])
def test_sigkill_then_resume_and_repair(fixture_web: Any, tmp_path: Path, kill_after: int) -> None:
    start = fixture_web.start_urls[PLATFORM]
    args = [PLATFORM, "--start-url", start, "--out", str(tmp_path), *CRASHY]
    mark = len(fixture_web.request_log)
    crawl = start_crawl(tmp_path / "logs", *args)
    wait_for(lambda: len(platform_requests(fixture_web, mark)) >= kill_after, 60, crawl)
    crawl.kill_group()  # the crawl and its evidence writer: nothing gets to clean up
    crawl.wait(timeout=30)
    assert crawl.proc.returncode == -signal.SIGKILL

    # -- invariants on what the killed crawl left ------------------------------------
    db = tmp_path / "adarchive.db"
    state = scan_directory(tmp_path / "warc")
    # the file being written stays *.open (unless the kill fell between a rotation and the
    # next record); a cut tail is detected, never read as a record
    assert len(state.open) <= 1 and set(state.truncated) <= {p.name for p in state.open}
    committed = check_captures(db, state)
    check_custody(db)
    assert query(db, "SELECT status FROM crawl") == [("running",)]  # nobody said otherwise
    stored_before = {
        url
        for (url,) in query(db, "SELECT url FROM capture WHERE kind = 'response' AND status = 200")
        if urlsplit(url).path != "/robots.txt"
    }

    # -- resume -----------------------------------------------------------------------
    mark = len(fixture_web.request_log)
    resumed = adarchive("crawl", *args, "--resume", *FAST, timeout=120)
    (tmp_path / "resume.stderr").write_text(resumed.stderr)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr[-3000:]
    fetched_again = {e.url for e in platform_requests(fixture_web, mark)} & stored_before
    assert not fetched_again, f"resume fetched stored pages again: {sorted(fetched_again)}"
    replayed = sum(crawl_stat(tmp_path, f"adarchive/resume/{key}")
                   for key in ("replayed", "already_stored"))  # fmt: skip
    pages = {u for u in stored_before if not urlsplit(u).path.startswith("/img/")}
    # every stored page answered locally (stored images may be too), nothing else
    assert len(pages) <= replayed <= len(stored_before)
    assert committed >= 3 * len(stored_before)  # response, request, metadata per page

    truth = {
        str(a["external_id"]): a for a in fixture_web.truth()["ads"] if a["platform"] == PLATFORM
    }
    ads = {r[0]: r for r in query(db, "SELECT external_id, name, url, capture_id FROM ad")}
    assert set(ads) == set(truth)
    for external_id, ad in truth.items():
        assert ads[external_id][1] == ad["name"] and ads[external_id][2] == ad["url"]
        assert ads[external_id][3] is not None
    crawls = query(db, "SELECT status FROM crawl ORDER BY id")
    assert crawls == [("interrupted",), ("finished",)]
    events = [a for (a,) in query(db, "SELECT action FROM custody_event ORDER BY seq")]
    assert "crawl.resumed" in events
    check_captures(db, scan_directory(tmp_path / "warc"))
    check_custody(db)

    # -- repair -------------------------------------------------------------------------
    originals = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in state.open}
    # in-process: repair's real CLI runs in test_crash_shutdown and test_evidence_process
    repaired = adarchive_here("repair", str(tmp_path), "--json")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    if not originals:
        assert repaired.stdout.startswith("no *.open WARC files")
        return
    lines = [json.loads(line) for line in repaired.stdout.splitlines()]
    assert len(lines) == len(originals)
    for line in lines:
        open_name = Path(line["open_path"]).name
        assert line["open_sha256"] == originals[open_name]
        if line["skipped"] == "no complete record":  # killed before its warcinfo was written
            assert line["repaired_path"] is None and line["open_size"] < 1000
            continue
        final = tmp_path / "warc" / open_name.removesuffix(".open")
        assert final.exists() and (tmp_path / "warc" / open_name).exists()  # original kept
        assert hashlib.sha256(final.read_bytes()).hexdigest() == line["sha256"]
        assert final.read_bytes() == (tmp_path / "warc" / open_name).read_bytes()[: line["size"]]
        assert line["records_kept"] >= 1
        assert (line["dropped_bytes"] == 0) == (line["records_dropped"] == 0)
    after = scan_directory(tmp_path / "warc")
    check_captures(db, after)
    rows = query(db, "SELECT status, sha256 FROM warc_file ORDER BY id")
    kept = [line["sha256"] for line in lines if line["repaired_path"]]
    empty = len(lines) - len(kept)
    assert sum(1 for status, _ in rows if status not in ("closed", "repaired")) <= empty
    # a file whose row was not committed yet (killed right after opening it) has none to mark
    assert {s for st, s in rows if st == "repaired"} <= set(kept)
    known = {Path(p).name for (p,) in query(db, "SELECT path FROM warc_file")}
    for line in lines:
        if line["repaired_path"] and Path(line["repaired_path"]).name in known:
            assert line["sha256"] in {s for st, s in rows if st == "repaired"}
    details = [
        json.loads(d)
        for (d,) in query(db, "SELECT details FROM custody_event WHERE action = 'warc.repaired'")
    ]
    assert {d["open_sha256"] for d in details} == set(originals.values())
    check_custody(db)
    # repairing again changes nothing
    again = adarchive_here("repair", str(tmp_path))
    assert again.returncode == 0, again.stdout + again.stderr
    assert ("already exists" in again.stderr) or ("no complete record" in again.stderr)
    assert len(query(db, "SELECT 1 FROM custody_event WHERE action = 'warc.repaired'")) == len(
        lines
    )
