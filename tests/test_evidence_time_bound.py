"""Time bound per capture (issue 15): with a TSA, a WARC file is closed and
time-stamped soon after its oldest capture, on a timer, in both writer paths.

Unit tests drive the writer with a pinned clock. The crawl tests run a real
crawl of the fixture web, slowed (DOWNLOAD_DELAY) so that the crawl is idle
between pages for longer than the bound, with the loopback test TSA: each file
must be closed and time-stamped *before* the next page was fetched, which only
the timer can do (a check on write would close it when the next record
arrives, after that record's capture time). Then an exported bundle states the
bound in VERIFY.txt and ``adarchive verify`` reports it with the gap per file.
"""

from __future__ import annotations

import json
import sqlite3
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tsa import LocalTSA

from conftest import FAST, adarchive, start_url_args, static_platforms
from crawler.archive.writer import RecordSpec, RotatingWarcWriter
from crawler.evidence.timebound import compute
from crawler.evidence.timestamp import manifest_paths, verify_response

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
# 0.04 minutes: 2.4 s bound, closed 0.6 s early; pages 6 s apart: idle in between.
BOUND_MINUTES = "0.04"
DELAY = "6"
# The bound the export states: generous, so the TSA's latency on a busy machine never
# decides the test; that a tighter one is refused is tested with --time-bound.
EXPORT_BOUND = "1"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def _spec(when: datetime, n: int) -> RecordSpec:
    return RecordSpec("resource", f"urn:test:{n}", when, f"<urn:uuid:{n:08d}>", b"x")


def test_idle_file_closes_on_the_timer_check_not_only_on_write(tmp_path: Path) -> None:
    clock = Clock()
    writer = RotatingWarcWriter(tmp_path, clock=clock, max_age=60.0)
    writer.write(_spec(T0, 1))
    clock.now = T0 + timedelta(seconds=30)
    assert writer.close_if_due() is None  # not yet due
    writer.write(_spec(clock.now, 2))
    clock.now = T0 + timedelta(seconds=45)  # the bound less its slack (a quarter)
    closed = writer.close_if_due()
    assert closed is not None and closed.records == 3  # warcinfo + both captures
    assert writer.current_path is None
    assert writer.close_if_due() is None  # nothing open: nothing to close


def test_a_late_write_goes_into_a_new_file(tmp_path: Path) -> None:
    clock = Clock()
    writer = RotatingWarcWriter(tmp_path, clock=clock, max_age=60.0)
    first = writer.write(_spec(T0, 1))
    clock.now = T0 + timedelta(minutes=5)
    second = writer.write(_spec(clock.now, 2))
    assert first.path != second.path
    assert [c.path for c in writer.closed] == [first.path]


def test_the_oldest_capture_counts_not_the_file_opening(tmp_path: Path) -> None:
    """The evidence writer receives captures dated in the crawl process, a little earlier."""
    clock = Clock()
    writer = RotatingWarcWriter(tmp_path, clock=clock, max_age=60.0)
    writer.write(_spec(T0 - timedelta(seconds=50), 1))  # already 50 s old on arrival
    assert writer.current_path is None  # closed at once: due on write


def test_without_max_age_only_size_closes(tmp_path: Path) -> None:
    clock = Clock()
    writer = RotatingWarcWriter(tmp_path, clock=clock)
    writer.write(_spec(T0, 1))
    clock.now = T0 + timedelta(days=1)
    assert writer.close_if_due() is None and writer.check_interval is None


def test_bound_is_stated_only_when_every_capture_is_covered() -> None:
    captures = [("a.warc.gz", T0), ("a.warc.gz", T0 + timedelta(seconds=50))]
    stamped = {"a.warc.gz": T0 + timedelta(seconds=70)}
    bound = compute(captures, stamped, 15)
    assert bound.holds
    assert "within 15 minutes of its capture" in bound.statement()
    assert "worst-case gap 70.000 s" in bound.files[0].describe()
    late = compute(captures, stamped, 1)
    assert not late.holds and "NOT within 1 minute" in late.statement()
    uncovered = compute([*captures, ("b.warc.gz", T0)], stamped, 15)
    assert not uncovered.holds and "no trusted time-stamp" in uncovered.statement()
    after = compute([("a.warc.gz", T0 + timedelta(minutes=2))], stamped, 15)
    assert not after.holds and after.contradictions


def test_a_bad_bound_setting_is_refused_in_one_line(tmp_path: Path) -> None:
    result = adarchive(
        "crawl", "uk_directory", "--out", str(tmp_path / "data"),
        "-s", "ADARCHIVE_TSA_URL=http://127.0.0.1:9/tsa",
        "-s", "ADARCHIVE_WARC_MAX_AGE_MINUTES=0",
    )  # fmt: skip
    assert result.returncode != 0
    assert "ADARCHIVE_WARC_MAX_AGE_MINUTES must be more than 0" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


# -- real crawls, both writer paths ------------------------------------------


@pytest.fixture(scope="module")
def tsa() -> Iterator[LocalTSA]:
    with LocalTSA() as local:
        yield local


def _crawl(web: Any, tsa: LocalTSA, out: Path, evidence_process: bool) -> Path:
    name = static_platforms(web)[0]
    result = adarchive(
        "crawl", name, *start_url_args(web, [name]), "--out", str(out), *FAST,
        "-s", f"DOWNLOAD_DELAY={DELAY}", "-s", "DOWNLOAD_DELAY_JITTER=0",
        "-s", "RANDOMIZE_DOWNLOAD_DELAY=False", "-s", "CLOSESPIDER_PAGECOUNT=4",
        "-s", f"ADARCHIVE_TSA_URL={tsa.url}",
        "-s", f"ADARCHIVE_WARC_MAX_AGE_MINUTES={BOUND_MINUTES}",
        "-s", f"ADARCHIVE_EVIDENCE_PROCESS={evidence_process}",
    )  # fmt: skip
    # 4: the page budget may end the crawl before an advert: the captures are what count here
    assert result.returncode in (0, 4), result.stdout + result.stderr[-3000:]
    return out


@pytest.fixture(scope="module", params=[False, True], ids=["in_process", "evidence_process"])
def bounded(
    request: pytest.FixtureRequest,
    fixture_web: Any,
    tsa: LocalTSA,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    out = tmp_path_factory.mktemp("bounded") / "data"
    return _crawl(fixture_web, tsa, out, evidence_process=request.param)


def _files(out: Path, tsa: LocalTSA) -> list[tuple[str, list[datetime], datetime]]:
    """(name, WARC-Dates of the captures, token time) per closed WARC file, in file order."""
    found = []
    for warc in sorted((out / "warc").glob("*.warc.gz")):
        manifest_path, token_path, chain_path = manifest_paths(warc)
        manifest = manifest_path.read_bytes()
        check = verify_response(token_path.read_bytes(), manifest, tsa.ca_pem.read_bytes())
        assert check.ok and check.gen_time is not None, (warc.name, check.reason)
        dates = [
            datetime.fromisoformat(r["date"].replace("Z", "+00:00"))
            for r in json.loads(manifest)["records"]
            if r["type"] != "warcinfo"
        ]
        found.append((warc.name, dates, check.gen_time))
    return found


def _opened_closed(out: Path) -> list[tuple[str, datetime, datetime]]:
    """(name, opened, closed) per WARC file as the store saw them, in opening order."""
    with sqlite3.connect(out / "adarchive.db") as conn:
        rows = conn.execute("SELECT path, opened_at, closed_at FROM warc_file").fetchall()

    def utc(text: object) -> datetime:
        return datetime.fromisoformat(str(text)).replace(tzinfo=UTC)

    return sorted(((Path(p).name, utc(o), utc(c)) for p, o, c in rows), key=lambda r: r[1])


def test_idle_crawl_closes_and_stamps_each_file_before_the_next_capture(
    bounded: Path, tsa: LocalTSA
) -> None:
    """A check on write alone closes a file only when the next exchange arrives, so the
    next file opens at that same moment. Here each file is closed while the crawl
    waits: well before the next one opens (pages are 6 s apart, the bound 2.4 s).

    Only files written as their capture was made count: while the evidence writer
    process starts, captures queue in its pipe and arrive already due (closed at once).
    """
    files = {name: (dates, stamped) for name, dates, stamped in _files(bounded, tsa)}
    rows = _opened_closed(bounded)
    assert len(rows) >= 3, "one page per file expected: the crawl idles longer than the bound"
    timely = 0
    for (name, opened, closed), (_, next_opened, _) in zip(rows, rows[1:], strict=False):
        if opened - min(files[name][0]) > timedelta(seconds=0.5):
            continue  # arrived late: due on arrival
        timely += 1
        assert closed < next_opened - timedelta(seconds=1), (name, closed, next_opened)
    assert timely >= 1, rows
    for name, _, closed in rows:
        dates, stamped = files[name]
        assert all(d <= closed <= stamped for d in dates), name
    assert not list((bounded / "warc").glob("*.open"))


@pytest.fixture(scope="module")
def bundle(bounded: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "case.wacz"
    result = adarchive(
        "export", "--db", str(bounded / "adarchive.db"), "--crawl", "1", "--out", str(out),
        env={"ADARCHIVE_WARC_MAX_AGE_MINUTES": EXPORT_BOUND},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def _verify(bundle: Path, *extra: str) -> Any:
    return adarchive(
        "verify", str(bundle), *extra, env={"ADARCHIVE_WARC_MAX_AGE_MINUTES": EXPORT_BOUND}
    )


def test_verify_txt_and_verify_state_the_bound_with_each_files_gap(
    bundle: Path, bounded: Path, tsa: LocalTSA
) -> None:
    with zipfile.ZipFile(bundle) as zf:
        text = zf.read("evidence/VERIFY.txt").decode()
        rows = zf.read("evidence/captures.csv").decode().splitlines()[1:]
    files = _files(bounded, tsa)
    exported = {row.split(",")[9] for row in rows}  # source_warc
    assert "every capture in this bundle was time-stamped within 1 minute of its capture" in text
    assert text.count("worst-case gap") == len(exported) >= 3
    result = _verify(bundle, "--tsa-root", str(tsa.ca_pem))
    assert result.returncode in (0, 3), result.stdout + result.stderr  # 3: unsigned bundle
    line = next(x for x in result.stdout.splitlines() if x.startswith("time bound"))
    assert " OK " in line and "within 1 minute of its capture" in line
    assert result.stdout.count("worst-case gap") == len(exported)
    assert len(files) >= len(exported)


def test_a_tighter_bound_than_achieved_is_not_claimed(bundle: Path, tsa: LocalTSA) -> None:
    result = _verify(bundle, "--tsa-root", str(tsa.ca_pem), "--time-bound", "0.00001")
    line = next(x for x in result.stdout.splitlines() if x.startswith("time bound"))
    assert " WARN " in line and "NOT within" in line
    assert "within 0.0006 seconds of its capture" not in result.stdout


def test_untrusted_tokens_state_no_bound(bundle: Path) -> None:
    result = _verify(bundle)
    assert not any(x.startswith("time bound") for x in result.stdout.splitlines())
    assert "time-stamped within" not in result.stdout
