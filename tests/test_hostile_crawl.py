"""Real crawls of the hostile platform: the crawler holds, stays polite, refuses and says why.

Every assertion comes from what really happened: the hostile server's request
log (counts and timings), the internal canary's log on 127.0.0.1, the crawl's
stats, its store and its WARC files. Only loopback is ever contacted.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from cli_inprocess import adarchive_here

from conftest import FAST, REPO, adarchive, crawl_stat

pytestmark = [pytest.mark.crawl]

BUDGET = {"max_pages": 80, "max_depth": 4, "max_seconds": 40, "max_query_variants": 4}
HOSTILE = [
    "-s", f"ADARCHIVE_BUDGETS={json.dumps({'hostile_board': BUDGET})}",
    "-s", "DOWNLOAD_MAXSIZE=1000000",
    "-s", "DOWNLOAD_WARNSIZE=500000",
    "-s", "ADARCHIVE_RESPONSE_TIME_LIMIT=1.5",
    "-s", "ADARCHIVE_BACKOFF_BASE=0.5",
]  # fmt: skip


@dataclass
class HostileRun:
    out: Path
    stdout: str
    stderr: str
    returncode: int
    seconds: float
    log: list[Any]
    internal_log: list[Any]
    truth: dict[str, Any]
    peak_pss: int = 0
    """Peak PSS of the crawl's process tree, read every 0.1 s (``measure=True`` only)."""
    scheme: str = "http"
    """The scheme the platform was crawled over (that of the first start URL)."""

    @property
    def base_url(self) -> str:
        """The platform's base URL over the crawl's scheme."""
        return str(self.truth["https_base_url" if self.scheme == "https" else "base_url"])

    def stat(self, key: str) -> int:
        """A Scrapy stat of this run, from the JSON file the crawl writes (0 if not recorded)."""
        return crawl_stat(self.out, key)

    def stats(self) -> dict[str, Any]:
        """The Scrapy stats of this run's one crawl, from the JSON file it writes."""
        (path,) = sorted((self.out / "crawl-stats").glob("*.json"))
        return dict(json.loads(path.read_text(encoding="utf-8"))["stats"])

    def query(self, sql: str, *params: Any) -> list[tuple]:
        with sqlite3.connect(self.out / "adarchive.db") as conn:
            return conn.execute(sql, params).fetchall()

    def paths(self, prefix: str) -> list[Any]:
        return [e for e in self.log if e.path.startswith(prefix)]


def run_hostile(
    web: Any,
    out: Path,
    start: str,
    *extra: str,
    env: dict[str, str] | None = None,
    measure: bool = False,
) -> HostileRun:
    site = web.hostile
    site.reset()
    args = ["crawl", "hostile_board", "--start-url", start, "--out", str(out), *FAST, *extra]
    if start.startswith("https:"):
        # The fixture's certificate is self-signed: said explicitly, as the browser tests
        # pass --ignore-certificate-errors (Scrapy 2.19's default is False already).
        args += ["-s", "DOWNLOAD_VERIFY_CERTIFICATES=False"]
    started = time.monotonic()
    peak = 0
    if measure:
        result, peak = measured(args, env)
    else:
        result = adarchive(*args, timeout=120, env=env)
    seconds = time.monotonic() - started
    time.sleep(0.3)  # let server threads finish logging
    return HostileRun(
        out,
        result.stdout,
        result.stderr,
        result.returncode,
        seconds,
        list(site.request_log),
        list(site.internal_log),
        site.truth(),
        peak,
        "https" if start.startswith("https:") else "http",
    )


def measured(
    args: list[str], env: dict[str, str] | None, timeout: float = 120
) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run the CLI as :func:`conftest.adarchive` does, reading the peak PSS of its process
    tree every 0.1 s (``/proc/*/smaps_rollup``: shared pages are not counted twice)."""
    from crawler.browser.memory import tree_pss

    full_env = {k: v for k, v in os.environ.items() if k != "ADARCHIVE_DB"} | (env or {})
    cmd = [sys.executable, "-m", "crawler.cli", *args]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, cwd=REPO, env=full_env)  # fmt: skip
        deadline = time.monotonic() + timeout
        peak = 0
        while process.poll() is None:
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                raise subprocess.TimeoutExpired(cmd, timeout)
            peak = max(peak, tree_pss(process.pid))
            time.sleep(0.1)
        out.seek(0)
        err.seek(0)
        result = subprocess.CompletedProcess(cmd, process.returncode, out.read(), err.read())
    return result, peak


def crawl_whole_platform(web: Any, out: Path, scheme: str) -> HostileRun:
    """One crawl of the whole hostile platform over ``scheme``, seeded with two internal
    URLs too.

    The internal seeds name 127.0.0.1 and localhost as start URLs, which also
    makes them "allowed hosts" of the spider: so redirects and links there
    get past Scrapy's host filter and only the SSRF guard stands in the way.
    """
    site = web.hostile
    internal = site.internal_url
    base = site.base_url_for(scheme)
    seeds = [
        base + "/",
        base + "/private/seed",  # disallowed: must be refused although a seed
        f"{internal}/seed",
        internal.replace("127.0.0.1", "localhost") + "/seed",
    ]
    return run_hostile(web, out, ",".join(seeds), *HOSTILE)


@pytest.fixture(scope="module")
def hostile(fixture_web: Any, tmp_path_factory: pytest.TempPathFactory) -> HostileRun:
    """The whole platform over HTTP."""
    return crawl_whole_platform(fixture_web, tmp_path_factory.mktemp("hostile"), "http")


@pytest.fixture(scope="module")
def hostile_https(fixture_web: Any, tmp_path_factory: pytest.TempPathFactory) -> HostileRun:
    """The whole platform over HTTPS (self-signed certificate, issue 14)."""
    return crawl_whole_platform(fixture_web, tmp_path_factory.mktemp("hostile-tls"), "https")


@pytest.fixture(params=["http", "https"])
def hostile_by_scheme(request: pytest.FixtureRequest) -> HostileRun:
    """The SSRF and size tests, over each scheme."""
    return request.getfixturevalue("hostile" if request.param == "http" else "hostile_https")


def test_crawl_ends_by_itself_within_budget(hostile: HostileRun) -> None:
    assert hostile.returncode == 0, hostile.stdout + hostile.stderr[-3000:]
    assert hostile.seconds < BUDGET["max_seconds"], hostile.seconds
    # listing, links, detail, ads, new, empty, refused, errors (0), seconds, state
    assert re.search(r"hostile_board(\s+\d+){7}\s+0\s+[\d.]+\s+finished", hostile.stdout)
    # it says what it refused and why, in one line and in the stats
    summary = re.search(r"hostile_board: refused (\d+) request\(s\): (.+) \(finish", hostile.stderr)
    assert summary, hostile.stderr[-2000:]
    for kind in ("ssrf", "size_limit", "decompression_bomb", "time_limit", "redirect_loop",
                 "budget_depth", "query_variants"):  # fmt: skip
        assert kind in summary.group(2), kind
        assert hostile.stat(f"adarchive/refused/{kind}") >= 1, kind
    assert len(hostile.log) <= BUDGET["max_pages"] + 10
    # robots.txt holds even for seeds that reach it together (a Scrapy 2.19 bug let them by)
    assert not hostile.paths("/private/") and hostile.stat("robotstxt/forbidden") == 1


def test_internal_target_never_reached(hostile_by_scheme: HostileRun) -> None:
    hostile = hostile_by_scheme
    assert hostile.internal_log == []
    refusals = re.findall(r"refused \(ssrf\) (\S+): (.+)", hostile.stderr)
    urls = {url for url, _ in refusals}
    internal = hostile.truth["internal_url"]
    localhost = internal.replace("127.0.0.1", "localhost")
    assert {f"{internal}/seed", f"{localhost}/seed"} <= urls  # by IP and by name
    assert {f"{internal}/link", f"{localhost}/link"} <= urls  # links
    assert {f"{internal}/secret", f"{localhost}/secret"} <= urls  # redirect hop 1
    assert any(u == f"{internal}/hop" and "redirect hop 2" in why for u, why in refusals)
    assert all("loopback" in why for _, why in refusals)
    assert hostile.stat("adarchive/refused/ssrf/loopback") == len(refusals) >= 7
    # the hops that led there were fetched (and archived); the targets were not
    assert hostile.paths("/ad/ssrf-ip") and hostile.paths("/hop/2")


def test_size_limits_and_bomb_refused(hostile_by_scheme: HostileRun) -> None:
    hostile = hostile_by_scheme
    assert hostile.stat("adarchive/refused/size_limit") == 2
    assert hostile.stat("adarchive/refused/decompression_bomb") == 1
    assert "refused (size_limit) " + hostile.base_url + "/ad/huge:" in hostile.stderr
    assert "/ad/huge-stream: body grew past 1000000 bytes" in hostile.stderr
    stored = {r[0] for r in hostile.query("SELECT external_id FROM ad")}
    assert not stored & {"huge", "huge-stream", "bomb", "drip"}
    # the bomb was archived as received (small, still gzip-encoded), never inflated to disk
    total = sum(p.stat().st_size for p in (hostile.out / "warc").glob("*.warc.gz"))
    assert total < 2_000_000


def test_drip_hits_total_time_limit_and_is_retried_once(hostile: HostileRun) -> None:
    drips = hostile.paths("/ad/drip")
    assert len(drips) == 2, [(e.path, e.time) for e in drips]
    # each attempt is cut after the 1.5 s total limit although a byte comes every 0.1 s
    for drip in drips:
        assert drip.ended is not None
        assert 1.4 <= drip.ended - drip.time < 2.5, drip.ended - drip.time
    assert hostile.stat("adarchive/refused/time_limit") == 1
    assert hostile.stat("adarchive/limits/time_limit_retries") == 1


def test_429_storm_pauses_the_site_for_retry_after(hostile: HostileRun) -> None:
    storm = hostile.paths("/ad/storm")
    assert [e.status for e in storm] == [429] * hostile.truth["storm_refusals"] + [200]
    for refused, following in zip(storm, storm[1:], strict=False):
        assert following.time - refused.time >= 0.95  # Retry-After: 1
    # paused means paused: nothing at all was sent to the site during each pause
    for refused in storm[:-1]:
        during = [e for e in hostile.log if refused.time < e.time < refused.time + 0.9]
        assert during == [], [(e.path, round(e.time - refused.time, 3)) for e in during]
    assert hostile.stat("adarchive/backoff/status_429") == 2


def test_503_with_http_date_retry_after(hostile: HostileRun) -> None:
    busy = hostile.paths("/ad/busy")
    assert [e.status for e in busy] == [503, 200]
    assert busy[1].time - busy[0].time >= 0.95  # HTTP-date two seconds ahead, 1 s resolution
    assert hostile.stat("adarchive/backoff/retry_after_honoured") == 3


def test_traps_bounded_by_budget(hostile: HostileRun) -> None:
    calendar = hostile.paths("/calendar/")
    variants = {e.path for e in hostile.paths("/list")}
    assert 1 <= len(calendar) <= 2 * BUDGET["max_depth"]
    assert len(variants) == BUDGET["max_query_variants"]
    assert hostile.stat("adarchive/refused/budget_depth") >= 1
    assert hostile.stat("adarchive/refused/query_variants") >= 1
    loop = hostile.paths("/ad/loop") + hostile.paths("/loop/")
    assert len(loop) == 2 and hostile.stat("adarchive/refused/redirect_loop") == 1


def test_good_adverts_survive_bad_encodings_and_markup(hostile: HostileRun) -> None:
    rows = {r[0]: r for r in hostile.query("SELECT external_id, name, title, body FROM ad")}
    expected = {a["external_id"]: a for a in hostile.truth["good_ads"]}
    assert set(rows) == set(expected)
    assert rows["h1"][1] == "Mira Tamsin"
    assert rows["h4-malformed"][1] == "Pell Orrin"
    assert rows["h3-mixed"][1] == "Olek Varn"
    assert rows["h2-latin"][1].startswith("Zo")  # declared UTF-8, sent as Latin-1
    phones = {r[0] for r in hostile.query("SELECT value FROM identifier WHERE kind = 'phone'")}
    assert "+447700100101" in phones
    # the archive keeps the Latin-1 bytes exactly as sent
    raw = b"".join(
        gzip.decompress(p.read_bytes()) for p in (hostile.out / "warc").glob("*.warc.gz")
    )
    assert "Zoë Brántë".encode("latin-1") in raw


def test_warcinfo_and_crawl_record_the_budget_and_policy(hostile: HostileRun) -> None:
    raw = b"".join(
        gzip.decompress(p.read_bytes()) for p in (hostile.out / "warc").glob("*.warc.gz")
    )
    info = raw.split(b"WARC-Type: warcinfo", 1)[1].split(b"WARC/1.1", 1)[0].decode()
    assert "budget: max_pages=80 max_depth=4 max_seconds=40.0 max_query_variants=4" in info
    assert "user-agent-policy: honest default" in info
    assert "robots: robots.txt obeyed" in info
    settings = json.loads(hostile.query("SELECT settings_json FROM crawl")[0][0])
    assert settings["ADARCHIVE_ALLOWED_ADDRESSES"] == "127.0.0.10-127.0.0.99"
    assert settings["ADARCHIVE_RESPONSE_TIME_LIMIT"] == 1.5
    actions = [r[0] for r in hostile.query("SELECT action FROM custody_event ORDER BY seq")]
    assert "crawl.policy" in actions


def test_site_that_keeps_refusing_is_paused_then_given_up(fixture_web: Any, tmp_path: Path) -> None:
    run = run_hostile(
        fixture_web, tmp_path, fixture_web.hostile.start_url + "closed/",
        "-s", "ADARCHIVE_BACKOFF_BASE=0.5", "-s", "ADARCHIVE_BACKOFF_MAX_REFUSALS=4",
    )  # fmt: skip
    # nothing stored: finish state "empty" (exit 4), and it says why
    assert run.returncode == 4, run.stderr[-2000:]
    assert "hostile_board: empty: the site kept refusing requests" in run.stderr
    refused = [e for e in run.log if e.path.startswith("/closed/ad/")]
    assert [e.status for e in refused] == [503] * 4  # 12 adverts linked, 4 tried
    gaps = [b.time - a.time for a, b in zip(refused, refused[1:], strict=False)]
    # max(Retry-After 1 s, 0.5 s * 2^(n-1)): 1, 1, 2 seconds
    assert gaps[0] >= 0.95 and gaps[1] >= 0.95 and gaps[2] >= 1.95, gaps
    assert run.stat("adarchive/backoff/sites_given_up") == 1
    # the 8 never tried and the 3 retries due: refused without being sent
    assert run.stat("adarchive/refused/site_given_up") == 12 - 4 + 3
    assert "giving up 127.0.0.16 for this crawl: 4 refusals in a row" in run.stderr
    # The crawl's own records agree, without a stopwatch: each later refusal's archived
    # response is dated (WARC-Date, written after it was received, so after it was sent)
    # at least the wait after the server received the refusal before it ...
    dates = refusal_dates(run.out / "warc", "/closed/ad/")
    assert len(dates) == 4, dates
    for before, after, wait in zip(refused[:-1], dates[1:], (1, 1, 2), strict=True):
        assert after.timestamp() >= before.time + wait - CLOCK_SLACK, (before, after, wait)
    # ... and the pauses it decided were exactly those waits, never longer.
    assert run.stderr.count("answered 503 (Retry-After 1.0s): pausing the site") == 3
    assert run.stats()["adarchive/backoff/longest_pause"] == 2.0, run.stderr[-2000:]


CLOCK_SLACK = 0.002
"""WARC-Date has microseconds and the server log float seconds of the same clock."""


def refusal_dates(warc: Path, prefix: str) -> list[Any]:
    """WARC-Date of each archived 503 response under ``prefix``, in the order written."""
    from datetime import datetime

    from warcio.archiveiterator import ArchiveIterator

    dates = []
    for path in sorted(warc.glob("*.warc.gz")):
        with path.open("rb") as fh:
            for record in ArchiveIterator(fh):
                uri = record.rec_headers.get_header("WARC-Target-URI") or ""
                status = record.http_headers.get_statuscode() if record.http_headers else None
                if record.rec_type == "response" and prefix in uri and status == "503":
                    date = record.rec_headers.get_header("WARC-Date")
                    dates.append(datetime.fromisoformat(date.replace("Z", "+00:00")))
    return sorted(dates)


def test_page_budget_and_ignore_robots_authority(fixture_web: Any, tmp_path: Path) -> None:
    authority = "Warrant AB-12/2026 (synthetic)"
    run = run_hostile(
        fixture_web, tmp_path, fixture_web.hostile.start_url,
        "--ignore-robots", "--authority", authority,
        "--user-agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
        "--user-agent-reason", "test of the recorded reason",
        "-s", 'ADARCHIVE_BUDGETS={"hostile_board": {"max_pages": 6}}',
        "-s", "ADARCHIVE_RESPONSE_TIME_LIMIT=1",
    )  # fmt: skip
    # six pages hold no advert here: finish state "empty" (exit 4), saying the budget ended it
    assert run.returncode == 4, run.stderr[-2000:]
    assert "empty: the budget (closespider_pagecount) ended the crawl" in run.stderr
    assert not run.paths("/robots.txt")
    assert len(run.log) <= 6 + 2  # the budget, plus what was already in flight
    assert {e.user_agent for e in run.log} == {"Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"}
    raw = b"".join(gzip.decompress(p.read_bytes()) for p in (run.out / "warc").glob("*.warc.gz"))
    info = raw.split(b"WARC-Type: warcinfo", 1)[1].split(b"WARC/1.1", 1)[0].decode()
    assert f"robots-override-authority: {authority}" in info
    assert f"robots: robots.txt NOT obeyed (ROBOTSTXT_OBEY=False); authority: {authority}" in info
    assert "user-agent-policy: configured agent, reason: test of the recorded reason" in info
    policy = run.query("SELECT details FROM custody_event WHERE action = 'crawl.policy'")
    details = json.loads(policy[0][0])
    assert details["robots"] == "ignored" and details["robots_authority"] == authority
    assert details["user_agent_policy"].endswith("test of the recorded reason")


def test_override_without_authority_refused(tmp_path: Path) -> None:
    # In-process (tests/cli_inprocess.py): the refusal is what the test is about; the crawl's
    # real one-line errors are tested in tests/test_crawl.py.
    result = adarchive_here("crawl", "hostile_board", "--out", str(tmp_path), "--ignore-robots")
    assert result.returncode == 2
    assert result.stderr.startswith("adarchive: error: --ignore-robots needs --authority")
    result = adarchive_here(
        "crawl", "hostile_board", "--out", str(tmp_path), "-s", "ROBOTSTXT_OBEY=0"
    )
    assert result.returncode == 2 and "authority" in result.stderr


class _ForwardProxy(BaseHTTPRequestHandler):
    """A minimal logging HTTP forward proxy on loopback (absolute-form request targets)."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(self.path, timeout=10) as upstream:
                status, body = upstream.status, upstream.read()
                ctype = upstream.headers.get("Content-Type", "text/html")
        except urllib.error.HTTPError as exc:
            status, body, ctype = exc.code, exc.read(), "text/plain"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Quiet."""


def test_per_platform_proxy_is_used_and_recorded(fixture_web: Any, tmp_path: Path) -> None:
    proxy = ThreadingHTTPServer(("127.0.0.17", 0), _ForwardProxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        url = f"http://agent:s3cret@127.0.0.17:{proxy.server_address[1]}"
        budgets = {"hostile_board": {"max_pages": 3, "proxy": url}}
        run = run_hostile(
            fixture_web, tmp_path, fixture_web.hostile.start_url,
            "-s", f"ADARCHIVE_BUDGETS={json.dumps(budgets)}",
        )  # fmt: skip
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert run.returncode == 4, run.stderr[-2000:]  # three pages, no advert yet: "empty"
    base = fixture_web.hostile.base_url
    assert f"{base}/robots.txt" in _ForwardProxy.seen and f"{base}/" in _ForwardProxy.seen
    assert len(run.log) == len(_ForwardProxy.seen)  # everything went through the proxy
    raw = b"".join(gzip.decompress(p.read_bytes()) for p in (run.out / "warc").glob("*.warc.gz"))
    info = raw.split(b"WARC-Type: warcinfo", 1)[1].split(b"WARC/1.1", 1)[0].decode()
    assert "proxy: http://sha256:" in info and "@127.0.0.17:" in info
    assert b"s3cret" not in raw
