"""Real crawls of the fixture web: stored ads, politeness, recrawls, one-line errors."""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from conftest import FAST, CrawlRun, adarchive, start_url_args

pytestmark = [pytest.mark.crawl]


def ads_of(truth: dict[str, Any], platforms: list[str]) -> list[dict[str, Any]]:
    return [ad for ad in truth["ads"] if ad["platform"] in platforms]


def requests_to(web: Any, run: CrawlRun, base_url: str) -> list[Any]:
    host = urlsplit(base_url).hostname
    return [
        e for e in web.request_log[run.log_start : run.log_end] if urlsplit(e.url).hostname == host
    ]


def test_every_static_ad_stored_with_its_fields(static_crawl: CrawlRun, truth: dict) -> None:
    expected = ads_of(truth, static_crawl.platforms)
    assert len(expected) >= 4 * 4
    rows = static_crawl.query(
        "SELECT p.name, a.external_id, a.url, a.name, a.age, a.poster_account, a.title, a.body,"
        " a.capture_id, a.first_seen, a.last_seen FROM ad a JOIN platform p ON p.id = a.platform_id"
    )
    stored = {(r[0], r[1]): r for r in rows}
    assert len(stored) == len(rows) == len(expected)
    for ad in expected:
        row = stored.get((ad["platform"], str(ad["external_id"])))
        assert row is not None, f"missing {ad['platform']}:{ad['external_id']}"
        assert row[2] == ad["url"]
        assert row[3] == ad["name"], (row[3], ad["name"])
        assert ad.get("age") is None or str(ad["age"]) in (row[4] or ""), (row[4], ad["age"])
        if ad.get("poster_account"):
            assert ad["poster_account"] in (row[5] or ""), (row[5], ad["poster_account"])
        if ad.get("title"):
            assert row[6] == ad["title"]
        assert row[7], "empty body"
        assert row[9] == row[10]


def test_shift_jis_platform_decoded(static_crawl: CrawlRun, truth: dict) -> None:
    jp = [p for p in truth["platforms"] if p["encoding"].lower().replace("-", "_") == "shift_jis"]
    assert jp, "the fixture web must serve a Shift_JIS platform"
    name = jp[0]["name"]
    rows = dict(
        static_crawl.query(
            "SELECT a.external_id, a.name FROM ad a JOIN platform p ON p.id = a.platform_id"
            " WHERE p.name = ?",
            name,
        )
    )
    expected = {str(a["external_id"]): a["name"] for a in truth["ads"] if a["platform"] == name}
    assert rows == expected
    assert any(any("\u3040" <= ch <= "\u9fff" for ch in value) for value in rows.values())


def test_no_disallowed_path_requested(
    static_crawl: CrawlRun, truth: dict, fixture_web: Any
) -> None:
    from urllib.request import urlopen

    from protego import Protego

    checked = 0
    for platform in truth["platforms"]:
        if platform["name"] not in static_crawl.platforms:
            continue
        entries = requests_to(fixture_web, static_crawl, platform["base_url"])
        assert any(urlsplit(e.url).path == "/robots.txt" for e in entries)
        assert platform["disallowed_paths"], platform["name"]
        with urlopen(platform["base_url"] + "/robots.txt", timeout=10) as reply:
            robots = Protego.parse(reply.read().decode("utf-8"))
        for e in entries:
            # Path and query as requested: one trap sits in the query string.
            assert robots.can_fetch(e.url, e.user_agent), f"{e.url} is disallowed by robots.txt"
            checked += 1
    assert checked > 20
    # The traps are linked like real adverts: the crawl must have seen and refused them.
    assert static_crawl.stat("robotstxt/forbidden") >= len(static_crawl.platforms)


def test_crawl_delay_respected(static_crawl: CrawlRun, truth: dict, fixture_web: Any) -> None:
    delayed = [
        p
        for p in truth["platforms"]
        if p.get("crawl_delay") and p["name"] in static_crawl.platforms
    ]
    assert delayed, "one fixture platform must set a Crawl-delay"
    for platform in delayed:
        entries = [
            e
            for e in requests_to(fixture_web, static_crawl, platform["base_url"])
            if urlsplit(e.url).path != "/robots.txt"
        ]
        times = sorted(e.time for e in entries)
        assert len(times) >= 5
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        # The delay is measured between request starts on the server side, whose threads
        # see a request up to a tenth of a second late on a busy machine.
        assert min(gaps) >= platform["crawl_delay"] - 0.1, (platform["name"], gaps)
        assert statistics.median(gaps) >= platform["crawl_delay"] * 0.95, (platform["name"], gaps)


def test_user_agent_is_honest(static_crawl: CrawlRun, fixture_web: Any) -> None:
    agents = {
        e.user_agent for e in fixture_web.request_log[static_crawl.log_start : static_crawl.log_end]
    }
    assert len(agents) == 1
    agent = agents.pop()
    assert agent.startswith("adarchive/") and "contact:" in agent


def test_recrawl_adds_sightings_not_duplicates(
    static_crawl: CrawlRun, fixture_web: Any, tmp_path: Path
) -> None:
    """The session's crawl is the first crawl (copied: it is shared read-only); kz_board is
    crawled again into the copy."""
    name = "kz_board"
    out = tmp_path / "out"
    shutil.copytree(static_crawl.out, out)
    args = [name, *start_url_args(fixture_web, [name]), "--out", str(out), *FAST]
    second = adarchive("crawl", *args, check=True)
    assert "kz_board" in static_crawl.result.stdout and "kz_board" in second.stdout
    run = CrawlRun(out, out / "adarchive.db", second, [name], 0, 0)
    of_platform = " JOIN platform p ON p.id = a.platform_id WHERE p.name = ?"
    ads = run.query("SELECT COUNT(*), COUNT(DISTINCT external_id) FROM ad a" + of_platform, name)[0]
    assert ads[0] == ads[1] == ads_count(fixture_web, name)
    sightings = run.query(
        "SELECT s.ad_id, COUNT(*), COUNT(DISTINCT s.crawl_id), COUNT(DISTINCT s.text_sha256)"
        " FROM sighting s JOIN ad a ON a.id = s.ad_id" + of_platform + " GROUP BY s.ad_id",
        name,
    )
    assert len(sightings) == ads[0]
    assert all(n == 2 and crawls == 2 and digests == 1 for _, n, crawls, digests in sightings)
    crawls = run.query(
        "SELECT c.status, c.ads, c.new_ads FROM crawl c JOIN platform p ON p.id = c.platform_id"
        " WHERE p.name = ? ORDER BY c.id",
        name,
    )
    assert crawls == [("finished", ads[0], ads[0]), ("finished", ads[0], 0)]
    seen = run.query(
        "SELECT COUNT(*) FROM ad a" + of_platform + " AND a.last_seen > a.first_seen", name
    )
    assert seen[0][0] == ads[0]


def ads_count(web: Any, platform: str) -> int:
    return sum(1 for ad in web.truth()["ads"] if ad["platform"] == platform)


def test_unwritable_output_dir_is_one_line(fixture_web: Any, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = adarchive("crawl", "kz_board", "--out", str(blocker / "sub"), *FAST)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "adarchive: error: cannot create output directory"
    )
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "url",
    ["notadb://x/y", "postgresql+psycopg://nobody@127.0.0.1:1/none", "sqlite:////proc/none/x.db"],
)
def test_bad_db_url_is_one_line(tmp_path: Path, url: str) -> None:
    result = adarchive("crawl", "kz_board", "--out", str(tmp_path), "--db", url, *FAST)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("adarchive: error:"), result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_platform_is_one_line(tmp_path: Path) -> None:
    result = adarchive("crawl", "no_such_board", "--out", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.startswith("adarchive: error: unknown platform 'no_such_board'")


def test_read_only_command_does_not_create_store(tmp_path: Path) -> None:
    db = tmp_path / "missing.db"
    result = adarchive("identifiers", "--db", f"sqlite:///{db}")
    assert result.returncode == 2
    assert "no store at" in result.stderr
    assert not db.exists()
