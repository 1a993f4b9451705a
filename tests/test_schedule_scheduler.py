"""The scheduler for real: two rounds of a platform against the fixture web.

One scheduler run (``--max-runs 2``, a 1 s interval shorter than a crawl)
is shared by the tests of this module: rounds, no overlap, sightings,
revisit records, a watch hit reported after the crawl that found it, an
export that resolves revisits, status. A second test kills a scheduler in the
middle of a run and checks that a new one adopts the run instead of starting
the platform twice.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cli_forkserver import popen
from cli_inprocess import adarchive_here

from conftest import FAST, REPO, adarchive, migrated_sqlite

pytestmark = [pytest.mark.crawl]

PLATFORM = "uk_directory"


def cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return adarchive(*args, timeout=timeout)


def watched_identifier(truth: dict[str, Any]) -> tuple[str, str]:
    """A plainly written phone of an ad of PLATFORM: (external_id, value)."""
    for ad in truth["ads"]:
        if ad["platform"] != PLATFORM:
            continue
        for ident in ad["identifiers"]:
            if ident["kind"] == "phone" and not ident["requires_browser"]:
                return str(ad["external_id"]), ident["value"]
    raise AssertionError("the fixture web has no plain phone on " + PLATFORM)


@dataclass
class Rounds:
    out: Path
    db: Path
    result: subprocess.CompletedProcess[str]
    watched: tuple[str, str]

    def query(self, sql: str, *params: Any) -> list[tuple]:
        with sqlite3.connect(self.db) as conn:
            return conn.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def rounds(fixture_web: Any, tmp_path_factory: pytest.TempPathFactory) -> Rounds:
    out = tmp_path_factory.mktemp("scheduled")
    db = out / "adarchive.db"
    watched = watched_identifier(fixture_web.truth())
    # Made in this process through the CLI's own entry point: test_mistakes runs each of
    # these commands as a real subprocess; this module is about the scheduler.
    for args in (
        ("db", "upgrade", "--db", str(db)),  # write commands never create a store (issue 17)
        ("schedule", "add", PLATFORM, "--every", "1s", "--db", str(db)),
        ("watch", "add", watched[1], "--db", str(db)),
    ):
        done = adarchive_here(*args)
        assert done.returncode == 0, done.stderr
    result = cli(
        "scheduler", "--db", str(db), "--out", str(out), "--tick", "0.2", "--max-runs", "2",
        "--start-url", f"{PLATFORM}={fixture_web.start_urls[PLATFORM]}", *FAST,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return Rounds(out, db, result, watched)


def test_two_rounds_recorded_without_overlap(rounds: Rounds) -> None:
    runs = rounds.query(
        "SELECT status, exit_code, started_at, finished_at, crawl_id, pages, ads, new_ads, errors,"
        " running_platform FROM schedule_run ORDER BY id"
    )
    assert len(runs) == 2, rounds.result.stdout
    first, second = runs
    assert [r[0] for r in runs] == ["finished", "finished"]
    assert [r[1] for r in runs] == [0, 0]
    assert [r[9] for r in runs] == [None, None]  # lock released
    # The interval (1 s) is shorter than a crawl: the second round waited for the first.
    assert second[2] >= first[3]
    assert first[4] != second[4]
    assert first[5] > 6 and second[5] == first[5]
    assert (first[6], first[7]) == (6, 6) and (second[6], second[7]) == (6, 0)
    # The crawls' own captures do not interleave either.
    spans = rounds.query(
        "SELECT crawl_id, min(fetched_at), max(fetched_at) FROM capture GROUP BY crawl_id"
        " ORDER BY crawl_id"
    )
    assert spans[0][2] < spans[1][1]
    assert rounds.query("SELECT last_run < next_run FROM schedule") == [(1,)]


def test_recrawl_records_sightings(rounds: Rounds) -> None:
    rows = rounds.query(
        "SELECT a.id, a.first_seen, a.last_seen, count(s.id), count(DISTINCT s.crawl_id)"
        " FROM ad a JOIN sighting s ON s.ad_id = a.id GROUP BY a.id"
    )
    assert len(rows) == 6
    for _, first_seen, last_seen, sightings, crawls in rows:
        assert (sightings, crawls) == (2, 2)
        assert first_seen < last_seen


def test_unchanged_pages_are_revisits(rounds: Rounds) -> None:
    kinds = dict(
        rounds.query("SELECT kind, count(*) FROM capture WHERE crawl_id = 2 GROUP BY kind")
    )
    responses_before = rounds.query(
        "SELECT count(*) FROM capture WHERE crawl_id = 1 AND kind = 'response'"
    )[0][0]
    assert kinds.get("response", 0) == 0
    assert kinds["revisit"] == responses_before
    # Each revisit carries its original's payload digest, and the original is a response.
    orphans = rounds.query(
        "SELECT r.id FROM capture r WHERE r.kind = 'revisit' AND NOT EXISTS (SELECT 1 FROM"
        " capture o WHERE o.kind = 'response' AND o.url = r.url"
        " AND o.payload_sha256 = r.payload_sha256)"
    )
    assert orphans == []
    sizes = rounds.query("SELECT crawl_id, sum(size) FROM warc_file GROUP BY crawl_id")
    assert sizes[1][1] < sizes[0][1] * 0.75


def test_revisit_records_are_valid_warc(rounds: Rounds) -> None:
    from warcio.archiveiterator import ArchiveIterator

    path, offset = rounds.query(
        "SELECT w.path, c.offset FROM capture c JOIN warc_file w ON w.id = c.warc_file_id"
        " WHERE c.kind = 'revisit' ORDER BY c.id LIMIT 1"
    )[0]
    with open(rounds.out / path, "rb") as fh:
        fh.seek(offset)
        record = next(iter(ArchiveIterator(fh)))
        headers = record.rec_headers
        assert record.rec_type == "revisit"
        assert headers.get_header("WARC-Profile").endswith("/revisit/identical-payload-digest")
        assert headers.get_header("WARC-Refers-To").startswith("<urn:uuid:")
        assert headers.get_header("WARC-Refers-To-Target-URI") == headers.get_header(
            "WARC-Target-URI"
        )
        assert headers.get_header("WARC-Refers-To-Date")
        assert record.http_headers.get_statuscode() == "200"
        assert record.content_stream().read() == b""
    check = subprocess.run([str(Path(sys.executable).with_name("warcio")), "check", str(rounds.out / path)],
                           capture_output=True, text=True)  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr


def test_watch_hit_reported_after_the_crawl_that_found_it(rounds: Rounds) -> None:
    carrying = {
        row[0]
        for row in rounds.query(
            "SELECT a.external_id FROM ad a JOIN ad_identifier ai ON ai.ad_id = a.id"
            " JOIN identifier i ON i.id = ai.identifier_id WHERE i.value = ?",
            rounds.watched[1],
        )
    }
    assert rounds.watched[0] in carrying
    # Reported by the run whose crawl found them, and not again by the next one.
    assert rounds.query("SELECT watch_hits FROM schedule_run ORDER BY id") == [
        (len(carrying),),
        (0,),
    ]
    assert f"{len(carrying)} new watch hits" in rounds.result.stdout
    done = cli("watch", "hits", "--json", "--db", str(rounds.db))
    assert done.returncode == 0, done.stderr
    hits = [json.loads(line) for line in done.stdout.splitlines()]
    assert {h["ad"]["external_id"] for h in hits} == carrying
    for hit in hits:
        assert hit["watch"]["value"] == rounds.watched[1]
        assert hit["crawl"] == 1
        # Its captures: the first crawl's response and the second's revisit, with positions.
        assert [c["kind"] for c in hit["captures"]] == ["response", "revisit"]
        assert all(c["warc"] and c["record_id"] and c["length"] for c in hit["captures"])


def test_export_of_the_recrawl_resolves_revisits(rounds: Rounds) -> None:
    bundle = rounds.out / "recrawl.wacz"
    done = adarchive("export", "--db", str(rounds.db), "--crawl", "2", "--out", str(bundle))
    assert done.returncode == 0, done.stdout + done.stderr
    with zipfile.ZipFile(bundle) as zf:
        rows = list(csv.DictReader(io.StringIO(zf.read("evidence/captures.csv").decode())))
    revisits = [r for r in rows if r["kind"] == "revisit"]
    originals = {(r["url"], r["payload_sha256"]) for r in rows if r["kind"] == "response"}
    assert len(revisits) > 6
    for row in revisits:
        assert (row["url"], row["payload_sha256"]) in originals, row["url"]
    verified = adarchive_here("verify", str(bundle))  # its report; the CLI is tested elsewhere
    # unsigned bundle, no trust anchor: integrity checked, signer not (exit 3)
    assert verified.returncode == 3, verified.stdout + verified.stderr
    assert "RESULT: integrity OK, signer NOT verified" in verified.stdout


def test_status_lists_the_scheduled_crawls(rounds: Rounds) -> None:
    done = adarchive_here("status", "--db", str(rounds.db))  # its real CLI: test_alerts_drift
    assert done.returncode == 0, done.stderr
    assert "(no crawl running)" in done.stdout
    assert "finished (run 1)" in done.stdout and "finished (run 2)" in done.stdout
    listed = cli("schedule", "list", "--db", str(rounds.db))
    assert f"{PLATFORM}  every 1s" in listed.stdout and "finished" in listed.stdout


def _wait_for(predicate: Any, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_scheduler_killed_mid_run_is_adopted_on_restart(fixture_web: Any, tmp_path: Path) -> None:
    db = tmp_path / "adarchive.db"
    # The store and its schedule are made in this process: this test is about the scheduler.
    migrated_sqlite(db)
    added = adarchive_here("schedule", "add", PLATFORM, "--every", "1s", "--db", str(db))
    assert added.returncode == 0, added.stderr
    slow = [*FAST, "-s", "DOWNLOAD_DELAY=0.15"]  # ≈ 4 s per crawl
    args = ["scheduler", "--db", str(db), "--out", str(tmp_path), "--tick", "0.2",
            "--start-url", f"{PLATFORM}={fixture_web.start_urls[PLATFORM]}", *slow]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "ADARCHIVE_DB"}
    first = popen(args, cwd=REPO,
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip

    def running_crawl() -> bool:
        with sqlite3.connect(db) as conn:
            try:
                return bool(conn.execute("SELECT 1 FROM crawl WHERE status='running'").fetchall())
            except sqlite3.OperationalError:
                return False

    _wait_for(running_crawl, 60)
    first.send_signal(signal.SIGKILL)  # no clean-up at all
    first.wait()
    second = cli(*args, "--max-runs", "2", timeout=120)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "adopted run 1" in second.stdout
    with sqlite3.connect(db) as conn:
        runs = conn.execute(
            "SELECT id, status, started_at, finished_at, crawl_id, pages FROM schedule_run"
            " ORDER BY id"
        ).fetchall()
    assert [r[1] for r in runs] == ["finished", "finished"], runs
    assert runs[1][2] >= runs[0][3]  # the adopted run still held the platform
    assert runs[0][4] and runs[0][5] > 0  # its crawl was found and counted
