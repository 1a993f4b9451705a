"""The evidence writer process (ADARCHIVE_EVIDENCE_PROCESS): same store as in-process, and
what happens when either side of the pipe dies.

Real crawls of the fixture web, once with the writer process and once without,
must leave the same adverts, identifiers, images and captures, every row
pointing at the record that proves it. A crawl killed on its own leaves the
writer to finish what it was sent: every file closed, every record captured.
A writer killed mid-crawl stops the crawl with a clear message, not a traceback.
"""

from __future__ import annotations

import collections
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from crashkit import check_captures, check_custody, query, scan_directory, start_crawl, wait_for

from conftest import FAST, adarchive, crawl_stat, start_url_args

pytestmark = [pytest.mark.crawl]

PLATFORMS = ["kz_board", "uk_directory"]
SLOW = ["-s", "DOWNLOAD_DELAY=0.05", "-s", "RANDOMIZE_DOWNLOAD_DELAY=False"]


def crawl(web: Any, out: Path, process: bool) -> Any:
    result = adarchive(
        "crawl", *PLATFORMS, *start_url_args(web, PLATFORMS), "--out", str(out), *FAST,
        "-s", f"ADARCHIVE_EVIDENCE_PROCESS={process}",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    return result


def store_facts(db: Path) -> dict[str, Any]:
    """What the store says, without row ids, times or record ids (which differ per run)."""
    with sqlite3.connect(db) as conn:
        q = conn.execute
        return {
            "ads": sorted(
                q(
                    "SELECT p.name, a.external_id, a.text_sha256, a.title, a.url FROM ad a"
                    " JOIN platform p ON p.id = a.platform_id"
                ).fetchall()
            ),
            "identifiers": sorted(
                q(
                    'SELECT a.external_id, i.kind, i.value, ai.field, ai.start, ai."end"'
                    " FROM ad_identifier ai JOIN ad a ON a.id = ai.ad_id"
                    " JOIN identifier i ON i.id = ai.identifier_id"
                ).fetchall()
            ),
            "images": sorted(
                q(
                    "SELECT a.external_id, ai.url, im.sha256 FROM ad_image ai"
                    " JOIN ad a ON a.id = ai.ad_id LEFT JOIN image im ON im.id = ai.image_id"
                ).fetchall()
            ),
            "captures": collections.Counter(
                q("SELECT kind, url, status FROM capture WHERE kind != 'warcinfo'").fetchall()
            ),
            # Same bytes recorded: bodies received, and request heads and bodies sent.
            "digests": collections.Counter(
                q(
                    "SELECT kind, url, payload_sha256,"
                    " CASE WHEN kind = 'request' THEN block_sha256 END FROM capture"
                    " WHERE kind IN ('response', 'request')"
                ).fetchall()
            ),
            "sightings": q("SELECT COUNT(*) FROM sighting").fetchone()[0],
            "crawls": sorted(q("SELECT status, pages, ads, new_ads FROM crawl").fetchall()),
        }


def proof_problems(db: Path) -> list[str]:
    """Rows whose capture is not the record that shows them."""
    problems = []
    with sqlite3.connect(db) as conn:
        q = conn.execute
        for ad, url, kind, captured in q(
            "SELECT a.external_id, a.url, c.kind, c.url FROM ad a"
            " LEFT JOIN capture c ON c.id = a.capture_id"
        ):
            if kind != "response" or captured != url:
                problems.append(f"ad {ad}: proof {kind} {captured}")
        for ad, kind, url, ad_url in q(
            "SELECT a.external_id, c.kind, c.url, a.url FROM ad_identifier ai"
            " JOIN ad a ON a.id = ai.ad_id LEFT JOIN capture c ON c.id = ai.capture_id"
        ):
            if kind != "response" or url != ad_url:
                problems.append(f"identifier of ad {ad}: proof {kind} {url}")
        for ad, url, kind, captured, parent_url in q(
            "SELECT a.external_id, ai.url, c.kind, c.url, parent.url FROM ad_image ai"
            " JOIN ad a ON a.id = ai.ad_id LEFT JOIN capture c ON c.id = ai.capture_id"
            " LEFT JOIN capture parent ON parent.id = c.parent_capture_id"
        ):
            if kind != "response" or captured != url or parent_url is None:
                problems.append(f"image {url} of ad {ad}: proof {kind} {captured} <- {parent_url}")
        sightings = q(
            "SELECT COUNT(*) FROM sighting s JOIN ad a ON a.id = s.ad_id"
            " WHERE s.capture_id IS NOT a.capture_id"
        ).fetchone()[0]
        if sightings:
            problems.append(f"{sightings} sightings not on their ad's capture")
    return problems


def test_writer_process_stores_what_the_crawl_process_stores(
    fixture_web: Any, tmp_path: Path
) -> None:
    crawl(fixture_web, tmp_path / "process", True)
    crawl(fixture_web, tmp_path / "inline", False)
    facts = {name: store_facts(tmp_path / name / "adarchive.db") for name in ("process", "inline")}
    assert facts["process"]["ads"], "nothing stored"
    assert facts["process"]["identifiers"] and facts["process"]["images"]
    assert facts["process"] == facts["inline"]
    for name in ("process", "inline"):
        db = tmp_path / name / "adarchive.db"
        assert proof_problems(db) == []
        state = scan_directory(tmp_path / name / "warc")
        assert state.closed and not state.open
        assert check_captures(db, state) == query(db, "SELECT COUNT(*) FROM capture")[0][0]
        check_custody(db)
        closed = query(db, "SELECT path, size, sha256 FROM warc_file WHERE status = 'closed'")
        assert len(closed) == len(state.closed)
        # Files are named after the crawl's process, not the writer's.
        assert {p.rsplit("-", 1)[1].split(".")[0] for p, _, _ in closed} == {
            str(pid) for (pid,) in query(db, "SELECT DISTINCT pid FROM crawl")
        }
    # The crawl's stats (the JSON files it writes) count what the writer wrote.
    for stat in ("adarchive/warc/records", "adarchive/warc/files_closed"):
        values = [crawl_stat(tmp_path / name, stat) for name in ("process", "inline")]
        assert values[0] == values[1] > 0, (stat, values)


def session_processes(session: int) -> list[int]:
    """Live processes of a session (the crawl started with start_new_session)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.getsid(int(entry)) == session:
                found.append(int(entry))
        except OSError:
            continue
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def is_writer(pid: int) -> bool:
    """The evidence writer: forked from the crawl (named evidence-writer), or exec'd."""
    return comm(pid) == "evidence-writer" or "crawler.sink.evidence_writer" in cmdline(pid)


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def crawl_until(web: Any, out: Path, requests: int, *extra: str) -> Any:
    """A slow crawl of one platform in its own session, once it has made ``requests``."""
    name = PLATFORMS[0]
    host = urlsplit(web.start_urls[name]).hostname
    mark = len(web.request_log)
    running = start_crawl(
        out / "logs", name, *start_url_args(web, [name]), "--out", str(out), *SLOW, *extra
    )

    def made_enough() -> bool:
        return sum(1 for e in web.request_log[mark:] if e.host == host) >= requests

    wait_for(made_enough, 60, running)
    return running


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="reads /proc to find the writer")
def test_crawl_killed_alone_leaves_the_writer_to_finish(fixture_web: Any, tmp_path: Path) -> None:
    # the writer as a new interpreter here (the kill test above has the forked one)
    running = crawl_until(fixture_web, tmp_path, 12, "-s", "ADARCHIVE_WARC_MAX_SIZE=20000",
                          "-s", "ADARCHIVE_EVIDENCE_WRITER_FORK=False")  # fmt: skip
    writers = [pid for pid in session_processes(running.proc.pid) if is_writer(pid)]
    assert [comm(pid) for pid in writers] == ["python"], [cmdline(p) for p in writers]
    running.proc.send_signal(signal.SIGKILL)  # the crawl only: its writer lives on
    running.wait(timeout=30)
    wait_until(lambda: not session_processes(running.proc.pid), 60, "the writer to exit")

    db = tmp_path / "adarchive.db"
    state = scan_directory(tmp_path / "warc")
    assert state.closed and not state.open, "the writer closes every file it had open"
    records = sum(1 for r in state.records.values() if r.kind != "warcinfo")
    captures = check_captures(db, state)
    assert captures == records > 0  # every record but the warcinfo ones has its row
    assert query(db, "SELECT COUNT(*) FROM warc_file WHERE status != 'closed'") == [(0,)]
    for (response_id,) in query(db, "SELECT id FROM capture WHERE kind = 'response'"):
        kinds = query(db, "SELECT kind FROM capture WHERE parent_capture_id = ?", response_id)
        children = collections.Counter(k for (k,) in kinds)  # and images of an advert page
        assert children["request"] == children["metadata"] == 1, (response_id, children)
    assert query(db, "SELECT status FROM crawl") == [("running",)]  # the crawl said nothing
    check_custody(db)


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="reads /proc to find the writer")
def test_writer_killed_stops_the_crawl_with_a_clear_error(fixture_web: Any, tmp_path: Path) -> None:
    running = crawl_until(fixture_web, tmp_path, 8)
    writers = [pid for pid in session_processes(running.proc.pid) if is_writer(pid)]
    assert len(writers) == 1, [cmdline(pid) for pid in session_processes(running.proc.pid)]
    assert comm(writers[0]) == "evidence-writer"  # forked from the crawl, the default
    os.kill(writers[0], signal.SIGKILL)
    _, err = running.wait(timeout=60)
    assert running.proc.returncode != 0
    assert "the evidence writer process has exited" in err
    assert "Traceback" not in err
    db = tmp_path / "adarchive.db"
    assert query(db, "SELECT status, finish_reason FROM crawl") == [
        ("failed", "evidence_writer_failed")
    ]
    # What the writer committed before it died still checks; its open file is repairable.
    state = scan_directory(tmp_path / "warc")
    check_captures(db, state)
    check_custody(db)
    repaired = adarchive("repair", str(tmp_path))
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr


@pytest.mark.browser
def test_browser_and_static_platforms_in_one_process(fixture_web: Any, tmp_path: Path) -> None:
    """The browser platform archives in the crawl's process, the static one in the writer,
    on one SQLite store: neither waits on the other's write lock."""
    names = ["kz_board", "th_board"]
    result = adarchive(
        "crawl", *names, *start_url_args(fixture_web, names), "--out", str(tmp_path), *FAST,
        "-s", "ADARCHIVE_STORE_COMMIT_EVERY=1000",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    db = tmp_path / "adarchive.db"
    assert sorted(query(db, "SELECT status, finish_reason FROM crawl")) == [
        ("finished", "finished"),
        ("finished", "finished"),
    ]
    per_platform = dict(
        query(
            db,
            "SELECT p.name, COUNT(*) FROM ad a JOIN platform p ON p.id = a.platform_id"
            " WHERE a.capture_id IS NOT NULL GROUP BY p.name",
        )
    )
    truth = collections.Counter(a["platform"] for a in fixture_web.truth()["ads"])
    assert per_platform == {name: truth[name] for name in names}
    state = scan_directory(tmp_path / "warc")
    assert state.closed and not state.open
    assert check_captures(db, state) == query(db, "SELECT COUNT(*) FROM capture")[0][0]
    check_custody(db)


def test_resume_right_after_the_crawl_alone_was_killed(fixture_web: Any, tmp_path: Path) -> None:
    """--resume at once: it waits for the writer still finishing, then fetches only what
    the store does not hold."""
    name = PLATFORMS[0]
    host = urlsplit(fixture_web.start_urls[name]).hostname
    running = crawl_until(fixture_web, tmp_path, 10)
    running.proc.send_signal(signal.SIGKILL)
    running.wait(timeout=30)
    mark = len(fixture_web.request_log)
    resumed = adarchive(
        "crawl", name, *start_url_args(fixture_web, [name]), "--out", str(tmp_path), *FAST,
        "--resume",
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr[-3000:]
    db = tmp_path / "adarchive.db"
    assert [s for (s,) in query(db, "SELECT status FROM crawl ORDER BY id")] == [
        "interrupted",
        "finished",
    ]
    fetched_again = {e.url for e in fixture_web.request_log[mark:] if e.host == host} & {
        url for (url,) in query(db, "SELECT url FROM capture WHERE crawl_id = 1")
    }
    assert not {u for u in fetched_again if not u.endswith("/robots.txt")}, fetched_again
    truth = {a["external_id"] for a in fixture_web.truth()["ads"] if a["platform"] == name}
    assert {e for (e,) in query(db, "SELECT external_id FROM ad")} == {str(t) for t in truth}
    state = scan_directory(tmp_path / "warc")
    assert state.closed and not state.open
    assert check_captures(db, state) == query(db, "SELECT COUNT(*) FROM capture")[0][0]
    check_custody(db)
