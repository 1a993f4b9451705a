"""Browser evidence records and guards, without a browser: pure data in, records out."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from warcio.archiveiterator import ArchiveIterator

from crawler.archive.browser import (
    BrowserExchange,
    RenderedPage,
    browser_request_head,
    browser_response_head,
    build_rendered_page,
)
from crawler.archive.digests import secret_digest
from crawler.archive.records import ExchangeContext
from crawler.archive.writer import RotatingWarcWriter
from crawler.browser.guard import BrowserGuard
from crawler.browser.launch import BrowserNotFound, browser_args, find_browser
from crawler.guard.address import parse_allow_list

AT = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
CONTEXT = ExchangeContext(platform="js_board", crawl_id=7, spider="js_board", software="test")


def exchange(url: str, body: bytes | None, kind: str = "document", **kw) -> BrowserExchange:
    defaults = {
        "method": "GET",
        "resource_type": kind,
        "request_headers": (("accept", "*/*"),),
        "request_body": b"",
        "status": 200,
        "status_text": "OK",
        "response_headers": (("Content-Type", "text/html"),),
        "received_at": AT,
        "ip": "127.0.0.50",
        "main_document": kind == "document",
    }
    return BrowserExchange(url=url, body=body, **{**defaults, **kw})


def test_decoded_body_renames_content_encoding_and_stale_length() -> None:
    ex = exchange(
        "http://127.0.0.50/api/x",
        b'{"a": 1}',
        "fetch",
        response_headers=(
            ("Content-Encoding", "gzip"),
            ("Content-Length", "31"),
            ("Content-Type", "application/json"),
        ),
    )
    head = browser_response_head(ex).decode()
    assert head.startswith("HTTP/1.1 200 OK\r\n")
    assert "\r\nX-Archive-Orig-Content-Encoding: gzip\r\n" in head
    assert "\r\nX-Archive-Orig-Content-Length: 31\r\n" in head
    assert "\r\nContent-Encoding" not in head and "\r\nContent-Length" not in head
    matching = exchange("http://127.0.0.50/", b"12345", response_headers=(("Content-Length", "5"),))
    assert "\r\nContent-Length: 5\r\n" in browser_response_head(matching).decode()


def test_request_head_hides_secrets_and_starts_with_host() -> None:
    ex = exchange(
        "http://127.0.0.50:8700/api/ad/1/contact?x=1#frag",
        b"{}",
        request_headers=(
            ("cookie", "age_ok=1"),
            ("authorization", "Basic Zm9v"),
            ("accept", "*/*"),
        ),
    )
    head = browser_request_head(ex).decode()
    lines = head.split("\r\n")
    assert lines[0] == "GET /api/ad/1/contact?x=1 HTTP/1.1"
    assert lines[1] == "Host: 127.0.0.50:8700"
    assert f"cookie: {secret_digest('age_ok=1')}" in lines
    assert "age_ok=1" not in head and "Zm9v" not in head


def test_page_records_point_at_the_document(tmp_path) -> None:
    gate = exchange("http://127.0.0.50/ad/1", b"<p>gate</p>", main_document=True)
    document = exchange("http://127.0.0.50/ad/1", b"<h1>ad</h1>")
    script = exchange("http://127.0.0.50/s.js", b"var a;", "script")
    data = exchange("http://127.0.0.50/api/1", b'{"phone": "1"}', "fetch")
    page = RenderedPage(
        url="http://127.0.0.50/ad/1",
        exchanges=[gate, document, script, data],
        page_index=1,
        taken_at=AT,
        screenshot=b"\x89PNG\r\n\x1a\nfake",
        actions=["click css:b: clicked"],
        blocked=["GET http://127.0.0.1/x (ssrf: loopback)"],
    )
    seen: set[str] = set()

    def archived_before(ex: BrowserExchange) -> bool:
        known = ex.url in seen
        seen.add(ex.url)
        return known

    ids = iter(f"<urn:uuid:00000000-0000-0000-0000-{n:012d}>" for n in range(100))
    specs = build_rendered_page(
        page,
        dom=b"<html>dom</html>",
        dom_type="text/html; charset=utf-8",
        new_id=lambda: next(ids),
        context=CONTEXT,
        already_archived=archived_before,
    )
    kinds = [(s.kind, s.url) for s in specs]
    assert kinds[0] == ("response", "http://127.0.0.50/ad/1")
    assert specs[0].payload == b"<h1>ad</h1>"  # the page, not the gate
    assert kinds[-2:] == [
        ("resource", "urn:screenshot:http://127.0.0.50/ad/1"),
        ("resource", "urn:dom:http://127.0.0.50/ad/1"),
    ]
    page_id = specs[0].record_id
    for spec in specs[1:]:
        concurrent = dict(spec.warc_headers).get("WARC-Concurrent-To")
        if spec.kind in ("metadata", "resource"):
            assert concurrent == page_id
    metadata = next(s for s in specs if s.kind == "metadata").payload.decode()
    assert "action: click css:b: clicked" in metadata
    assert "blocked: GET http://127.0.0.1/x (ssrf: loopback)" in metadata
    assert f"{document.url} 200 document" in metadata and " page\r\n" in metadata

    writer = RotatingWarcWriter(directory=tmp_path, max_size=10**9)
    written = writer.write_group(specs)
    writer.close()
    (path,) = tmp_path.glob("*.warc.gz")
    with path.open("rb") as fh:
        types = {
            r.rec_headers.get_header("WARC-Target-URI"): r.rec_headers.get_header("Content-Type")
            for r in ArchiveIterator(fh)
            if r.rec_type == "resource"
        }
    assert types == {
        "urn:screenshot:http://127.0.0.50/ad/1": "image/png",
        "urn:dom:http://127.0.0.50/ad/1": "text/html; charset=utf-8",
    }
    assert written[-2].payload_sha256 == written[-2].block_sha256


def test_guard_refuses_off_platform_other_schemes_and_internal_addresses() -> None:
    guard = BrowserGuard(("127.0.0.50",), parse_allow_list("127.0.0.10-127.0.0.99"))

    def refusal(url: str):
        return asyncio.run(guard.refusal(url))

    assert refusal("http://127.0.0.50:8700/api/x") is None
    assert refusal("data:text/plain,hi") is None
    assert refusal("http://127.0.0.51/x")[0] == "browser-offsite"
    assert refusal("file:///etc/passwd")[0] == "browser-scheme"
    internal = BrowserGuard(("127.0.0.1", "169.254.169.254"), parse_allow_list(""))
    assert asyncio.run(internal.refusal("http://127.0.0.1/admin"))[0] == "ssrf"
    assert asyncio.run(internal.refusal("http://169.254.169.254/latest"))[0] == "ssrf"
    assert guard.address_refusal("127.0.0.1") is not None
    assert guard.address_refusal("127.0.0.50") is None


def test_missing_browser_is_one_line_naming_the_fix(tmp_path) -> None:
    with pytest.raises(BrowserNotFound) as caught:
        find_browser(str(tmp_path / "no-chromium"))
    text = str(caught.value)
    assert "\n" not in text
    assert "apt-get install chromium" in text and "playwright install chromium" in text


def test_browser_args_keep_commas_inside_flags() -> None:
    rule = "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.*"
    assert browser_args(f'["{rule}", "--mute-audio"]') == [rule, "--mute-audio"]
    assert browser_args([rule]) == [rule]
    assert browser_args("") == []
