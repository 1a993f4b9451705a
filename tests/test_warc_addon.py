"""The WarcCapture add-on in a plain Scrapy project that is not ours.

A temporary project (its own scrapy.cfg, settings and a ten-line spider, none of
adarchive's definitions, store or pipelines) enables the add-on with one
setting and crawls a fixture platform with ``scrapy crawl``. Its WARC files
must be what our own crawls write: bodies as received (gzip intact), SHA-256
digests, warcinfo, closed files that `warcio check` accepts and pywb replays;
no store is created; responses Scrapy's HTTP cache makes up are marked, not
archived as if received.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from pywb import wayback
from warcio.archiveiterator import ArchiveIterator

from conftest import REPO

pytestmark = [pytest.mark.crawl]

PLATFORM = "kz_board"  # served gzip-encoded to clients that accept it
SPIDER = """
import scrapy


class ListingSpider(scrapy.Spider):
    name = "listing"

    async def start(self):
        yield scrapy.Request(self.settings.get("START_URL"))

    def parse(self, response):
        yield {"url": response.url, "title": response.css("title::text").get()}
        for href in response.css("a::attr(href)").getall():
            yield response.follow(href)
"""


def make_project(root: Path, start_url: str, **settings: Any) -> Path:
    package = root / "plainproj"
    (package / "spiders").mkdir(parents=True)
    (root / "scrapy.cfg").write_text("[settings]\ndefault = plainproj.settings\n")
    (package / "__init__.py").write_text("")
    (package / "spiders" / "__init__.py").write_text("")
    (package / "spiders" / "listing.py").write_text(SPIDER)
    lines = {
        "BOT_NAME": "plainproj",
        "SPIDER_MODULES": ["plainproj.spiders"],
        "ADDONS": {"crawler.archive.addon.WarcCapture": 0},
        "ADARCHIVE_WARC_DIR": str(root / "warc"),
        "START_URL": start_url,
        "ROBOTSTXT_OBEY": True,
        "DOWNLOAD_DELAY": 0,
        "CLOSESPIDER_PAGECOUNT": 6,
        "CONCURRENT_REQUESTS": 1,
        "LOG_LEVEL": "INFO",
        "USER_AGENT": "plainproj-agent/1.0",
        # startproject's template sets these headers; the add-on must still win.
        "DEFAULT_REQUEST_HEADERS": {"Accept-Encoding": "gzip, deflate, br, zstd"},
        **settings,
    }
    (package / "settings.py").write_text(
        "".join(f"{name} = {value!r}\n" for name, value in lines.items())
    )
    return root


def scrapy_crawl(project: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{project}{os.pathsep}{REPO}"}
    env.pop("SCRAPY_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "listing", "-o", "items.jsonl"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def records(warc_dir: Path) -> list[tuple[Any, bytes]]:
    out = []
    for path in sorted(warc_dir.glob("*.warc.gz")):
        with path.open("rb") as fh:
            for record in ArchiveIterator(fh, no_record_parse=False):
                out.append((record, record.raw_stream.read()))  # as stored: not decoded
    return out


def test_plain_project_archives_as_received_with_one_setting(
    fixture_web: Any, tmp_path: Path
) -> None:
    start = fixture_web.start_urls[PLATFORM]
    project = make_project(tmp_path / "proj", start)
    result = scrapy_crawl(project)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "WarcCapture" in result.stderr  # Scrapy lists enabled add-ons

    warc_dir = project / "warc"
    files = sorted(warc_dir.iterdir())
    assert files and all(f.name.endswith(".warc.gz") for f in files), files  # none *.open
    check = subprocess.run(
        [str(Path(sys.executable).parent / "warcio"), "check", "-v", *map(str, files)],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert not list(project.rglob("*.db")), "the add-on needs no store"

    recs = records(warc_dir)
    assert recs[0][0].rec_type == "warcinfo"
    assert b"software: adarchive/" in recs[0][1]
    responses = [(r, body) for r, body in recs if r.rec_type == "response"]
    requests = [r for r, _ in recs if r.rec_type == "request"]
    assert len(responses) == len(requests) >= 6
    for record, _ in responses:
        assert record.rec_headers.get_header("WARC-Block-Digest").startswith("sha256:")
        assert record.rec_headers.get_header("WARC-Payload-Digest").startswith("sha256:")
    for record in requests:
        assert record.http_headers.get_header("Accept-Encoding") == "gzip, deflate, br"
        assert record.http_headers.get_header("User-Agent") == "plainproj-agent/1.0"
    assert b"http-header-user-agent: plainproj-agent/1.0" in recs[0][1]
    pages = [
        (r, body)
        for r, body in responses
        if r.http_headers.get_header("Content-Encoding") == "gzip"
    ]
    assert pages, "the fixture platform serves gzip; it must be archived encoded"
    # The archived payload is the gzip stream as the server sends it.
    record, stored = pages[0]
    url = record.rec_headers.get_header("WARC-Target-URI")
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=10) as served:
        encoded = served.read()
    assert encoded[:2] == b"\x1f\x8b" and stored == encoded
    assert gzip.decompress(stored)

    # What the spider saw is what the archive replays.
    with wayback(files, tmp_path / "pywb") as wb:
        replay = wb.raw(url)
        assert replay.status == 200 and replay.body == encoded


def test_responses_from_scrapys_http_cache_are_marked_not_archived(
    fixture_web: Any, tmp_path: Path
) -> None:
    start = fixture_web.start_urls[PLATFORM]
    cache = {"HTTPCACHE_ENABLED": True, "HTTPCACHE_DIR": str(tmp_path / "cache")}
    first = make_project(tmp_path / "first", start, **cache)
    assert scrapy_crawl(first).returncode == 0
    second = make_project(tmp_path / "second", start, **cache)
    result = scrapy_crawl(second)
    assert result.returncode == 0, result.stderr[-3000:]

    recs = records(second / "warc")
    kinds = [r.rec_type for r, _ in recs]
    assert "response" not in kinds, "a cached response is not what was received"
    notes = [body for r, body in recs if r.rec_type == "metadata"]
    assert len(notes) >= 6
    assert all(b"not-archived: not downloaded" in note for note in notes)
    marked = {
        r.rec_headers.get_header("WARC-Target-URI") for r, _ in recs if r.rec_type == "metadata"
    }
    first_urls = {
        r.rec_headers.get_header("WARC-Target-URI")
        for r, _ in records(first / "warc")
        if r.rec_type == "response"
    }
    assert marked <= first_urls


def test_a_rendered_dom_is_marked_not_written_as_a_response(tmp_path: Path) -> None:
    from scrapy import Request, Spider
    from scrapy.http import HtmlResponse
    from scrapy.utils.test import get_crawler

    from crawler.archive.addon import RENDERED, WarcCapture, WarcCaptureMiddleware

    class Plain(Spider):
        name = "plain"

    settings = {"ADDONS": {WarcCapture: 0}, "ADARCHIVE_WARC_DIR": str(tmp_path / "warc")}
    crawler = get_crawler(Plain, settings)
    middleware = WarcCaptureMiddleware.from_crawler(crawler)
    request = Request("http://127.0.0.12:1/ad/1.html", meta={"playwright": True})
    dom = HtmlResponse(request.url, body=b"<html>rendered</html>", request=request,
                       flags=["playwright"])  # fmt: skip
    middleware.process_request(request)
    assert middleware.process_response(request, dom) is dom
    middleware.spider_closed(Plain(), "finished")

    recs = records(tmp_path / "warc")
    assert [r.rec_type for r, _ in recs] == ["warcinfo", "metadata"]
    assert f"not-archived: {RENDERED}".encode() in recs[1][1]
    assert recs[1][0].rec_headers.get_header("WARC-Target-URI") == request.url


def test_an_unwritable_warc_directory_stops_the_crawl_before_any_request(
    fixture_web: Any, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    start = fixture_web.start_urls[PLATFORM]
    project = make_project(tmp_path / "proj", start, ADARCHIVE_WARC_DIR=str(blocker / "warc"))
    before = len(fixture_web.request_log)
    result = scrapy_crawl(project)
    assert result.returncode != 0
    assert "cannot write WARC files in" in result.stderr
    assert len(fixture_web.request_log) == before, "nothing may be fetched unarchived"
