"""The JavaScript platform crawled for real in headless Chromium (scrapy-playwright).

th_board renders its listing from ``/api/listing?page=N``, puts an age gate in
front of every advert until the cookie is set, and shows the phone only after
a "show number" button fetches it. One crawl (browser restarted every 3 pages,
so the age gate is met again) is checked against truth.json, the WARC files
(with warcio and Pillow) and replay in pywb.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pywb import wayback
from warcio.archiveiterator import ArchiveIterator

from conftest import CHROMIUM, FAST, CrawlRun, adarchive, start_url_args
from crawler.browser.features import QUIET_FEATURES, playwright_disabled_features
from crawler.demo.world import FIXTURE_ALLOWED_ADDRESSES

pytestmark = [pytest.mark.crawl, pytest.mark.browser]

PLATFORM = "th_board"
RESTART_AFTER = 3
# Chromium's own background look-ups stay off the network: only loopback resolves.
BROWSER_ARGS = '["--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.*"]'
BROWSER = [
    "-s", f"ADARCHIVE_ALLOWED_ADDRESSES={FIXTURE_ALLOWED_ADDRESSES}",
    "-s", f"ADARCHIVE_BROWSER_ARGS={BROWSER_ARGS}",
]  # fmt: skip
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def browser_crawl(fixture_web: Any, tmp_path_factory: pytest.TempPathFactory) -> CrawlRun:
    out = tmp_path_factory.mktemp("browser-crawl")
    log_start = len(fixture_web.request_log)
    result = adarchive(
        "crawl", PLATFORM, *start_url_args(fixture_web, [PLATFORM]), "--out", str(out),
        *FAST, *BROWSER, "-s", f"ADARCHIVE_BROWSER_RESTART_AFTER={RESTART_AFTER}",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr[-4000:]
    return CrawlRun(
        out, out / "adarchive.db", result, [PLATFORM], log_start, len(fixture_web.request_log)
    )


def th_ads(truth: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in truth["ads"] if a["platform"] == PLATFORM]


def read_record(run: CrawlRun, capture_id: int) -> tuple[Any, bytes, dict[str, Any]]:
    """(WARC headers, payload, capture row) of one capture, read at its offset."""
    (row,) = run.query(
        "SELECT w.path, c.offset, c.length, c.kind, c.url, c.record_id, c.block_sha256, "
        "c.payload_sha256, c.parent_capture_id, c.content_type "
        "FROM capture c JOIN warc_file w ON w.id = c.warc_file_id WHERE c.id = ?",
        capture_id,
    )
    keys = [
        "path",
        "offset",
        "length",
        "kind",
        "url",
        "record_id",
        "block",
        "payload",
        "parent",
        "content_type",
    ]
    capture = dict(zip(keys, row, strict=True))
    with (run.out / capture["path"]).open("rb") as fh:
        fh.seek(capture["offset"])
        member = fh.read(capture["length"])
    assert gzip.decompress(member).startswith(b"WARC/1.1\r\n")  # one whole record
    record = next(iter(ArchiveIterator(io.BytesIO(member))))
    return record.rec_headers, record.content_stream().read(), capture


def all_records(run: CrawlRun) -> list[tuple[Any, bytes]]:
    out = []
    for path in sorted((run.out / "warc").glob("*.warc.gz")):
        with path.open("rb") as fh:
            for record in ArchiveIterator(fh):
                out.append((record.rec_headers, record.content_stream().read()))
    return out


def test_crawl_stores_every_advert_and_restarts_the_browser(
    browser_crawl: CrawlRun, truth: dict[str, Any]
) -> None:
    stored = {eid for (eid,) in browser_crawl.query("SELECT external_id FROM ad")}
    reachable = {a["external_id"] for a in th_ads(truth)}
    assert stored == reachable
    log = browser_crawl.result.stderr
    restarts = browser_crawl.stat("adarchive/browser/restarts")
    assert restarts >= 2, "the browser was not restarted"
    assert log.count("browser page failed") == 0
    # Every launch (one per restart) with one --disable-features: Playwright's names and ours.
    launches = re.findall(r"browser switches: (.*)", log)
    assert len(launches) >= 1 + restarts, log[-3000:]
    for switches in launches:
        (features,) = re.findall(r"--disable-features=(\S+)", switches)
        assert {*QUIET_FEATURES, *playwright_disabled_features()} <= set(features.split(","))
    actions = [
        line
        for headers, body in all_records(browser_crawl)
        if headers.get_header("WARC-Type") == "metadata"
        for line in body.decode().splitlines()
        if line.startswith("action: ")
    ]
    assert actions and not [a for a in actions if "timed out" in a], actions
    # After each restart the new browser meets the age gate again and confirms it.
    gate = [a for a in actions if a.startswith("action: click css:button#age-yes")]
    assert sum(a.endswith(": clicked") for a in gate) >= 1 + restarts


def test_phones_revealed_by_the_button_are_stored(
    browser_crawl: CrawlRun, truth: dict[str, Any]
) -> None:
    hidden = [
        (ad["external_id"], ident["kind"], ident["value"])
        for ad in th_ads(truth)
        for ident in ad["identifiers"]
        if ident["requires_browser"]
    ]
    assert len(hidden) >= len(th_ads(truth))  # every advert hides its phone
    stored = set(
        browser_crawl.query(
            "SELECT a.external_id, i.kind, i.value FROM ad_identifier ai "
            "JOIN ad a ON a.id = ai.ad_id JOIN identifier i ON i.id = ai.identifier_id"
        )
    )
    missing = [h for h in hidden if h not in stored]
    assert not missing, f"phones behind the button not stored: {missing}"


def test_ad_points_at_the_page_document_with_screenshot_and_dom(browser_crawl: CrawlRun) -> None:
    rows = browser_crawl.query("SELECT url, capture_id FROM ad")
    assert rows
    for url, capture_id in rows:
        headers, body, capture = read_record(browser_crawl, capture_id)
        assert capture["kind"] == "response" and capture["url"] == url
        assert capture["parent"] is None
        assert headers.get_header("WARC-Type") == "response"
        assert b"post-title" in body  # the advert itself, not the age gate
        children = dict(
            browser_crawl.query(
                "SELECT url, kind FROM capture WHERE parent_capture_id = ? AND kind = 'resource'",
                capture_id,
            )
        )
        assert children == {f"urn:screenshot:{url}": "resource", f"urn:dom:{url}": "resource"}


def test_screenshot_is_a_png_whose_sha256_matches_the_store(
    browser_crawl: CrawlRun, truth: dict[str, Any]
) -> None:
    shots = browser_crawl.query(
        "SELECT s.id, p.record_id FROM capture s JOIN capture p ON p.id = s.parent_capture_id "
        "WHERE s.url LIKE 'urn:screenshot:%'"
    )
    assert (
        len(shots)
        == browser_crawl.query("SELECT count(*) FROM capture WHERE url LIKE 'urn:dom:%'")[0][0]
    )
    assert len(shots) >= len(th_ads(truth)) + 1  # every advert and the listing
    for shot_id, page_record_id in shots:
        headers, png, capture = read_record(browser_crawl, shot_id)
        assert headers.get_header("WARC-Type") == "resource"
        assert headers.get_header("Content-Type") == "image/png"
        assert headers.get_header("WARC-Concurrent-To") == page_record_id
        assert png.startswith(PNG_SIGNATURE)
        image = Image.open(io.BytesIO(png))
        image.verify()
        assert image.format == "PNG" and image.size[0] >= 800
        digest = hashlib.sha256(png).hexdigest()
        assert digest == capture["payload"] == capture["block"]


def test_dom_record_holds_the_revealed_phone(
    browser_crawl: CrawlRun, truth: dict[str, Any]
) -> None:
    doms = {
        url.removeprefix("urn:dom:"): capture_id
        for capture_id, url in browser_crawl.query(
            "SELECT id, url FROM capture WHERE url LIKE 'urn:dom:%'"
        )
    }
    ad = next(a for a in th_ads(truth) if any(i["requires_browser"] for i in a["identifiers"]))
    _, html, capture = read_record(browser_crawl, doms[ad["url"]])
    assert capture["content_type"].startswith("text/html")
    phone = re.search(rb'<span class="phone">([^<]+)</span>', html)
    assert phone, "the number the button revealed is not in the rendered DOM"
    (matched,) = browser_crawl.query(
        "SELECT count(*) FROM ad_identifier ai JOIN ad a ON a.id = ai.ad_id "
        "WHERE a.url = ? AND ai.match = ? AND ai.capture_id = ?",
        ad["url"],
        phone.group(1).decode("utf-8").strip(),
        doms[ad["url"]],
    )
    assert matched[0] == 1, "the identifier must point at the DOM record that shows it"


def test_xhr_json_is_archived_with_its_request(
    browser_crawl: CrawlRun, truth: dict[str, Any]
) -> None:
    records = all_records(browser_crawl)
    responses = {
        h.get_header("WARC-Target-URI"): (h, body)
        for h, body in records
        if h.get_header("WARC-Type") == "response"
    }
    requests = {
        h.get_header("WARC-Concurrent-To")
        for h, _ in records
        if h.get_header("WARC-Type") == "request"
    }
    listing = [u for u in responses if "/api/listing?page=" in u]
    assert listing, "the listing's JSON was not archived"
    titles = set()
    for url in listing:
        headers, body = responses[url]
        titles |= {ad["title"] for ad in json.loads(body)["ads"]}
        assert headers.get_header("WARC-Record-ID") in requests
    assert {a["title"] for a in th_ads(truth)} <= titles
    contact = [u for u in responses if re.search(r"/api/ad/\d+/contact$", u)]
    assert len(contact) == len(th_ads(truth))
    for url in contact:
        headers, body = responses[url]
        assert json.loads(body)["phone"]  # answered 200 with the number: the gate was passed
        assert headers.get_header("WARC-Record-ID") in requests


def test_request_records_hide_the_cookie_value(browser_crawl: CrawlRun) -> None:
    from crawler.archive.digests import secret_digest

    heads = [
        body
        for path in sorted((browser_crawl.out / "warc").glob("*.warc.gz"))
        for body in _request_heads(path)
        if b"/contact " in body.split(b"\r\n", 1)[0]
    ]
    assert heads
    for head in heads:
        assert b"age_ok=1" not in head
        assert f"cookie: {secret_digest('age_ok=1')}".encode() in head.lower()


def _request_heads(path: Path) -> list[bytes]:
    out = []
    with path.open("rb") as fh:
        for record in ArchiveIterator(fh):
            if record.rec_type == "request":
                out.append(record.http_headers.to_bytes() if record.http_headers else b"")
    return out


def test_listing_replays_in_pywb_with_its_content(
    browser_crawl: CrawlRun, fixture_web: Any, truth: dict[str, Any], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    start = fixture_web.start_urls[PLATFORM]
    titles = {a["title"] for a in th_ads(truth)}
    warcs = sorted((browser_crawl.out / "warc").glob("*.warc.gz"))
    with wayback(warcs, tmp_path / "pywb") as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=json.loads(BROWSER_ARGS))
        try:
            page = browser.new_page()
            live: list[str] = []

            def only_pywb(route: Any) -> None:
                if f"127.0.0.1:{server.port}" in route.request.url:
                    route.continue_()
                else:  # anything else would be the live site: replay must not need it
                    live.append(route.request.url)
                    route.abort()

            page.route("**", only_pywb)
            # pywb's framed replay: banner page, capture in the replay iframe.
            page.goto(server.url(start))
            frame = page.frame_locator("iframe#replay_iframe")
            links = frame.locator("ul#listing a.ad-title")
            links.first.wait_for(timeout=20000)
            shown = set(links.all_inner_texts())
        finally:
            browser.close()
    assert titles <= shown, f"replayed listing lacks adverts: {titles - shown}"
    assert not [u for u in live if "127.0.0.15" in u], live
