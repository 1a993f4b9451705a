"""The exhibit's page renderer reaches its replay server and nothing else.

A hostile archived page (served here by a plain HTTP server standing in for
pywb, on the one port the guard allows) asks for resources on the canary in
every way HTML and CSS allow without script, and tries to navigate away. The
canary on 127.0.0.1 must record nothing; the guard's refusals are counted; the
picture stays the page's own.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from crawler.browser.launch import find_browser
from crawler.demo.canary import Canary
from crawler.exhibit.pictures import CHROMIUM_ARGS, PageRenderer, ReplayGuard

pytestmark = [pytest.mark.browser]

HOSTILE = """<!DOCTYPE html><html><head>
<meta http-equiv="refresh" content="0;url={c}/refresh">
<link rel="stylesheet" href="{c}/style.css"><link rel="prefetch" href="{c}/prefetch">
<link rel="preload" as="image" href="{c}/preload"><link rel="icon" href="{c}/icon">
<style>@import url("{c}/import.css"); body {{ background: url("{c}/bg.png"); }}
@font-face {{ font-family: x; src: url("{c}/font.woff"); }} p {{ font-family: x; }}</style>
</head><body><h1>advert</h1><p>text</p>
<img src="{c}/img.png" width="200" height="120" alt="photo">
<img srcset="{c}/srcset.png 1x"><picture><source srcset="{c}/source.png"><img src="{c}/pic.png"></picture>
<iframe src="{c}/frame" width="100" height="50"></iframe><object data="{c}/object"></object>
<embed src="{c}/embed"><video poster="{c}/poster.png" src="{c}/video.mp4"></video>
<input type="image" src="{c}/input.png"><a ping="{c}/ping" href="{c}/link">link</a>
<img src="http://169.254.169.254/latest/meta-data/"><img src="//127.0.0.1:{port}/relative">
</body></html>"""


class _Replay:
    """Stands in for pywb: serves the hostile page on the one allowed port."""

    def __init__(self, page: bytes) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                body = page if self.path.startswith("/evidence/") else b"not here"
                self.send_response(200 if body is page else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, target: str, timestamp: str = "", modifier: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/evidence/{timestamp}{modifier}/{target}"


def test_a_hostile_page_reaches_nothing_but_the_replay_server(tmp_path: Path) -> None:
    with Canary() as canary:
        page = HOSTILE.format(c=canary.http_url, port=canary.tcp_ports[0]).encode()
        replay = _Replay(page)
        guard = ReplayGuard(replay.port)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=find_browser(None), args=CHROMIUM_ARGS,
                    proxy={"server": guard.url},
                )  # fmt: skip

                def new_page(width: int) -> Any:
                    context = browser.new_context(java_script_enabled=False,
                                                  viewport={"width": width, "height": 900})  # fmt: skip
                    return context.new_page()

                renderer = PageRenderer(replay, new_page, guard)
                rendering = renderer.render(
                    "http://127.0.0.11:8700/ad/1.html", "2026-12-04T12:00:00Z", 960
                )
                browser.close()
        finally:
            guard.close()
            replay.server.shutdown()
        assert canary.hits == [], canary.hits
    assert rendering.png.startswith(b"\x89PNG")
    assert rendering.refused >= 10, [r.target for r in guard.proxy.refusals]
    kinds = {r.kind for r in guard.proxy.refusals}
    assert kinds <= {"ssrf", "browser-offsite", "browser-port", "browser-scheme"}, kinds
    # the image, the frame, the object, the video and the image button are blurred areas
    assert len(rendering.boxes) >= 5
