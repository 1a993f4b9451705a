"""Browser pages under hostile conditions: a page that hangs, requests the guards must refuse.

A small site of its own (``127.0.0.31``): one advert whose first rendering
hangs in an endless script (the page times out, is logged and retried), one
whose script reaches for an off-platform host, a name that resolves to
loopback and a path robots.txt disallows (all refused by the ``page.route``
guard, never sent). A missing browser stops the crawl with one line naming the fix.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from conftest import FAST, adarchive
from crawler.demo.world import FIXTURE_ALLOWED_ADDRESSES

pytestmark = [pytest.mark.crawl, pytest.mark.browser]

SITE, OFFSITE, INTERNAL = "127.0.0.31", "127.0.0.32", "127.0.0.1"
BROWSER = [
    "-s", f"ADARCHIVE_ALLOWED_ADDRESSES={FIXTURE_ALLOWED_ADDRESSES}",
    "-s", 'ADARCHIVE_BROWSER_ARGS=["--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.*"]',
    "-s", "ADARCHIVE_BROWSER_PAGE_TIMEOUT=3",
    "-s", "ADARCHIVE_BROWSER_SCREENSHOT_MAX_HEIGHT=4000",
]  # fmt: skip

DEFINITION = """
schema_version = 1
[platform]
name = "hostile_board"
country = "TH"
language = "en"
start_urls = ["http://{site}:{port}/"]
allowed_hosts = ["{site}", "localhost"]
[listing]
ad_links = "css:a.ad::attr(href)"
[detail]
render = "browser"
actions = [{{ wait = "css:h1" }}, {{ wait = "css:p.contacts:not(:empty)" }}]
external_id = {{ from = "url", re = "/ad/(\\\\d+)$" }}
title = "css:h1"
body = "css:div.body"
contacts = "css:p.contacts"
"""


class Web:
    """Three loopback servers sharing one request counter."""

    def __init__(self) -> None:
        self.hits: Counter[tuple[str, str]] = Counter()
        self.lock = threading.Lock()
        self.servers = [self._server(host) for host in (SITE, OFFSITE, INTERNAL)]
        self.port = {
            host: s.server_address[1]
            for host, s in zip((SITE, OFFSITE, INTERNAL), self.servers, strict=True)
        }

    def _server(self, host: str) -> ThreadingHTTPServer:
        web = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - stdlib name
                with web.lock:
                    web.hits[(host, self.path)] += 1
                    count = web.hits[(host, self.path)]
                body, status = web.page(host, self.path, count)
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer((host, 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def page(self, host: str, path: str, count: int) -> tuple[str, int]:
        if host != SITE:
            return "<p>should never be fetched</p>", 200
        if path == "/robots.txt":
            return "User-agent: *\nDisallow: /private/\n", 200
        if path == "/":
            links = (f'<a class="ad" href="/ad/{n}">{n}</a>' for n in (1, 2, 3))
            return " ".join(links), 200
        if path == "/ad/1" and count == 1:
            return "<h1>hang</h1><script>for (;;) {}</script>", 200
        if path == "/ad/1":
            return advert("Advert one", "Tel: +66 81 234 5601", ""), 200
        if path == "/ad/2":
            script = (
                f"fetch('http://{OFFSITE}:{self.port[OFFSITE]}/beacon').catch(() => 0);"
                f"fetch('http://localhost:{self.port[INTERNAL]}/secret').catch(() => 0);"
                "fetch('/private/data').catch(() => 0);"
                "setTimeout(() => { document.querySelector('p.contacts').textContent ="
                " 'Tel: +66 81 234 5602'; }, 50);"
            )
            return advert("Advert two", "", script), 200
        if path == "/ad/3":  # an endless page: the screenshot is cut, not the memory
            tall = "<div style='height: 30000px'>long</div>"
            return advert("Advert three", "Tel: +66 81 234 5603", "") + tall, 200
        return "not found", 404

    def stop(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


def advert(title: str, contacts: str, script: str) -> str:
    return (
        f"<html><body><h1>{title}</h1><div class='body'>Invented text.</div>"
        f"<p class='contacts'>{contacts}</p><script>{script}</script></body></html>"
    )


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Web, Path, Any]]:
    web = Web()
    root = tmp_path_factory.mktemp("browser-hostile")
    definitions = root / "definitions"
    definitions.mkdir()
    (definitions / "hostile_board.toml").write_text(
        DEFINITION.format(site=SITE, port=web.port[SITE]), encoding="utf-8"
    )
    out = root / "out"
    try:
        result = adarchive(
            "crawl", "hostile_board", "--definitions", str(definitions), "--out", str(out),
            *FAST, *BROWSER,
        )  # fmt: skip
        yield web, out, result
    finally:
        web.stop()


def test_hanging_page_is_logged_retried_and_then_stored(hostile: tuple[Web, Path, Any]) -> None:
    web, out, result = hostile
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert web.hits[(SITE, "/ad/1")] == 2  # the hung rendering, then the retry
    assert re.search(r"browser page failed: http://127\.0\.0\.31:\d+/ad/1: ", result.stderr)
    assert "'adarchive/browser/pages_failed': 1" in result.stderr
    import sqlite3

    with sqlite3.connect(out / "adarchive.db") as conn:
        ads = dict(conn.execute("SELECT external_id, title FROM ad"))
        phones = {v for (v,) in conn.execute("SELECT value FROM identifier WHERE kind='phone'")}
    assert ads == {"1": "Advert one", "2": "Advert two", "3": "Advert three"}
    assert phones == {"+66812345601", "+66812345602", "+66812345603"}


def test_guard_refuses_browser_requests_before_they_are_sent(
    hostile: tuple[Web, Path, Any],
) -> None:
    web, out, result = hostile
    assert web.hits[(OFFSITE, "/beacon")] == 0
    assert web.hits[(INTERNAL, "/secret")] == 0
    assert web.hits[(SITE, "/private/data")] == 0  # robots.txt applies to browser requests
    assert "'adarchive/refused/robots': 1" in result.stderr
    assert "'adarchive/refused/browser-offsite': 1" in result.stderr
    assert "'adarchive/refused/ssrf': 1" in result.stderr
    blocked = []
    for path in (out / "warc").glob("*.warc.gz"):
        with path.open("rb") as fh:
            for record in ArchiveIterator(fh):
                if record.rec_type == "metadata":
                    text = record.content_stream().read().decode()
                    blocked += [line for line in text.splitlines() if line.startswith("blocked:")]
    assert any(f"http://{OFFSITE}:" in b and "browser-offsite" in b for b in blocked), blocked
    assert any("http://localhost:" in b and "ssrf" in b for b in blocked), blocked
    assert any("/private/data" in b and "robots" in b for b in blocked), blocked


def test_missing_browser_stops_the_crawl_with_one_line(tmp_path: Path) -> None:
    result = adarchive(
        "crawl", "th_board", "--out", str(tmp_path / "out"),
        "-s", f"ADARCHIVE_BROWSER_EXECUTABLE={tmp_path / 'no-chromium'}",
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("adarchive: error: ADARCHIVE_BROWSER_EXECUTABLE=")
    assert "apt-get install chromium" in lines[0]


def test_screenshot_of_an_endless_page_is_cut_at_the_limit(hostile: tuple[Web, Path, Any]) -> None:
    import io

    from PIL import Image

    _, out, _ = hostile
    shots, notes = {}, []
    for path in (out / "warc").glob("*.warc.gz"):
        with path.open("rb") as fh:
            for record in ArchiveIterator(fh):
                uri = record.rec_headers.get_header("WARC-Target-URI") or ""
                body = record.content_stream().read()
                if uri.startswith("urn:screenshot:"):
                    shots[uri.rsplit("/", 1)[-1]] = Image.open(io.BytesIO(body)).size
                elif record.rec_type == "metadata" and b"render: browser" in body:
                    notes += [x for x in body.decode().splitlines() if x.startswith("screenshot:")]
    assert shots["3"][1] == 4000, shots
    assert shots["1"][1] < 4000
    assert any("cut from" in note for note in notes), notes
