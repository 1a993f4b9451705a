"""A hostile platform for the fixture web: traps, storms, drips, bombs and SSRF bait.

Served on its own loopback address (``127.0.0.16``, the next platform slot)
on the fixture web's port, with a request log of its own, so crawls of the
five ordinary platforms never see it. Beside it, an "internal" canary server
listens on ``127.0.0.1`` (not allowed by the crawler's guard): the hostile
pages link and redirect there by IP, by ``localhost`` and by other spellings,
and its log must stay empty.

What it serves (``/`` is the listing):

* six good adverts, some with invalid or mixed encodings and malformed HTML;
* ``/ad/storm`` answers 429 (``Retry-After: 1``) twice, then the advert;
  ``/ad/busy`` answers 503 with an HTTP-date ``Retry-After`` once, then the advert;
* ``/ad/drip`` drips one byte every 0.1 s, forever;
* ``/ad/huge`` declares 3 MB, ``/ad/huge-stream`` streams 3 MB chunked;
* ``/ad/bomb`` is a gzip bomb (~100 kB inflating to 100 MB);
* ``/ad/loop`` redirects in a loop;
* ``/ad/ssrf-*`` redirect (directly or after a hop) to the canary;
* ``/calendar/…`` is an endless calendar, ``/list?…`` endless query variations;
* ``/closed/`` links to adverts that always answer 503 (a site that keeps refusing);
* ``/escape/…``: non-HTTP schemes, over-long identifiers, image floods and an
  endless session-id chain (crawler/demo/escape.py).
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import socket
import ssl
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from crawler.demo.bomb import gzip_zeros
from crawler.demo.escape import EscapePages, serve
from crawler.demo.selfsigned import server_context

NAME = "hostile_board"
HOST = "127.0.0.16"
INTERNAL_HOST = "127.0.0.1"
STORM_REFUSALS = 2
DRIP_INTERVAL = 0.1
DRIP_LENGTH = 100_000
HUGE_SIZE = 3_000_000
BOMB_INFLATED = 100 * 1024 * 1024
SERVER_NAME = "adarchive-fixture-hostile/1"
TLS_HANDSHAKE_SECONDS = 10.0

# (external id, name, title, body as text, phone as shown, encoding trick)
GOOD_ADS = (
    ("h1", "Mira Tamsin", "Tidy room near the park", "Quiet flat share, bills included.",
     "+44 7700 100101", "plain"),
    ("h2-latin", "Zoë Brántë", "Café-side studio", "Declared UTF-8, sent as Latin-1: naïve résumé.",
     "+44 7700 100102", "latin1"),
    ("h3-mixed", "Olek Varn", "Mixed encodings", "Part UTF-8 (ünïcode), part windows-1251.",
     "+44 7700 100103", "mixed"),
    ("h4-malformed", "Pell Orrin", "Broken markup", "Unclosed tags and stray bytes follow.",
     "+44 7700 100104", "malformed"),
    ("storm", "Rue Calder", "Popular listing", "Served after a 429 storm.",
     "+44 7700 100105", "plain"),
    ("busy", "Ines Farrow", "Busy listing", "Served after a 503 with an HTTP-date Retry-After.",
     "+44 7700 100106", "plain"),
)  # fmt: skip
LIMITED_ADS = ("drip", "huge", "huge-stream", "bomb")
SSRF_ADS = ("ssrf-ip", "ssrf-localhost", "ssrf-hop", "ssrf-zero", "ssrf-v6", "ssrf-decimal")


@dataclass
class HitLogEntry:
    """One request as the hostile platform (or the internal canary) saw it."""

    server: str
    """``hostile`` or ``internal``."""
    method: str
    path: str
    time: float
    user_agent: str | None
    status: int
    ended: float | None = None
    """When a dripped response ended (client gone or server stopping)."""

    def to_json(self) -> str:
        return json.dumps(asdict(self))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 64

    def __init__(
        self,
        address: tuple[str, int],
        site: HostileSite,
        role: str,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.site = site
        self.role = role
        self.scheme = "https" if tls else "http"
        super().__init__(address, _Handler)
        if tls is not None:
            # The handshake happens in the request's own thread (finish_request), so a
            # client that connects and stays silent never holds up the accept loop.
            self.socket = tls.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )

    def finish_request(self, request: Any, client_address: Any) -> None:
        if isinstance(request, ssl.SSLSocket):
            request.settimeout(TLS_HANDSHAKE_SECONDS)
            try:
                request.do_handshake()
            except (OSError, ssl.SSLError):
                return
            request.settimeout(None)
        super().finish_request(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = SERVER_NAME
    sys_version = ""
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """The hit log is the record."""

    def do_GET(self) -> None:
        site = self.server.site
        if self.server.role == "internal":
            self._send(200, b"internal secret\n", "text/plain")
            return
        try:
            site.route(self)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True

    def _log(self, status: int) -> HitLogEntry:
        entry = HitLogEntry(
            self.server.role,
            self.command,
            self.path,
            time.time(),
            self.headers.get("User-Agent"),
            status,
        )
        self.server.site.record(entry)
        return entry

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "text/html; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        self._log(status)
        head = [
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
            f"Server: {SERVER_NAME}",
            f"Date: {email.utils.formatdate(usegmt=True)}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
            *(f"{k}: {v}" for k, v in (headers or {}).items()),
        ]
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

    def _redirect(self, location: str) -> None:
        self._send(302, b"", headers={"Location": location})


def _page(title: str, inner: str, charset: str = "utf-8") -> str:
    return (
        f'<!DOCTYPE html><html><head><meta charset="{charset}"><title>{title}</title></head>'
        f"<body>{inner}</body></html>"
    )


def _ad_html(ad: tuple[str, ...]) -> str:
    _id, name, title, body, phone, _trick = ad
    return (
        f'<h1 class="title">{title}</h1><p>by <span class="name">{name}</span></p>'
        f'<div class="body">{body}</div><div class="contacts">Call {phone}</div>'
    )


class HostileSite:
    """The hostile platform's state: counters, request log, servers."""

    def __init__(self) -> None:
        self.port: int | None = None
        self.https_port: int | None = None
        self.internal_port: int | None = None
        self.request_log: list[HitLogEntry] = []
        self.internal_log: list[HitLogEntry] = []
        self.counters: dict[str, int] = {}
        self.stopped = threading.Event()
        self._lock = threading.Lock()
        self._servers: list[_Server] = []
        self._threads: list[threading.Thread] = []
        self._bomb: bytes | None = None
        self.escape = EscapePages()  # issue 14: /escape/… (crawler/demo/escape.py)
        self._tls_dir: tempfile.TemporaryDirectory[str] | None = None

    # -- lifecycle (driven by FixtureWeb) ------------------------------------

    def bind(self, port: int) -> int:
        """Bind the platform on ``HOST:port`` (0 = any), the same pages over HTTPS (a
        self-signed certificate made now) on another port, and the canary on 127.0.0.1."""
        server = _Server((HOST, port), self, "hostile")
        self._servers.append(server)
        self.port = server.server_address[1]
        if self._tls_dir is None:
            self._tls_dir = tempfile.TemporaryDirectory(prefix="hostile-tls-")
        tls = server_context(Path(self._tls_dir.name), HOST)
        secure = _Server((HOST, 0), self, "hostile", tls=tls)
        self._servers.append(secure)
        self.https_port = secure.server_address[1]
        internal = _Server((INTERNAL_HOST, 0), self, "internal")
        self._servers.append(internal)
        self.internal_port = internal.server_address[1]
        return self.port

    def unbind(self) -> None:
        """Release sockets bound by a failed :meth:`bind` attempt."""
        for server in self._servers:
            server.server_close()
        self._servers = []

    def start(self) -> None:
        for server in self._servers:
            t = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name=f"fixture-{NAME}-{server.role}-{server.scheme}",
                daemon=True,
            )
            t.start()
            self._threads.append(t)

    def close(self) -> None:
        """Stop serving (drips end too) and release the sockets."""
        self.stopped.set()
        for server in self._servers:
            if self._threads:
                server.shutdown()
            server.server_close()
        for t in self._threads:
            t.join(timeout=5)
        self._servers, self._threads = [], []
        if self._tls_dir is not None:
            self._tls_dir.cleanup()
            self._tls_dir = None

    def reset(self) -> None:
        """Forget counters and logs, so a test's crawl meets the storms afresh."""
        with self._lock:
            self.counters.clear()
            self.request_log.clear()
            self.internal_log.clear()

    # -- what tests read -------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def start_url(self) -> str:
        return self.base_url + "/"

    @property
    def https_base_url(self) -> str:
        """The same platform over HTTPS (self-signed certificate, issue 14)."""
        return f"https://{HOST}:{self.https_port}"

    def base_url_for(self, scheme: str) -> str:
        return self.https_base_url if scheme == "https" else self.base_url

    @property
    def internal_url(self) -> str:
        return f"http://{INTERNAL_HOST}:{self.internal_port}"

    def truth(self) -> dict[str, Any]:
        return {
            "platform": NAME,
            "base_url": self.base_url,
            "https_base_url": self.https_base_url,
            "good_ads": [
                {
                    "external_id": a[0],
                    "url": f"{self.base_url}/ad/{a[0]}",
                    "name": a[1],
                    "phone": a[4],
                    "encoding": a[5],
                }
                for a in GOOD_ADS
            ],  # fmt: skip
            "limited_ads": [f"{self.base_url}/ad/{a}" for a in LIMITED_ADS],
            "ssrf_ads": [f"{self.base_url}/ad/{a}" for a in SSRF_ADS],
            "internal_url": self.internal_url,
            "storm_refusals": STORM_REFUSALS,
        }

    def record(self, entry: HitLogEntry) -> None:
        with self._lock:
            (self.internal_log if entry.server == "internal" else self.request_log).append(entry)

    def _count(self, key: str) -> int:
        with self._lock:
            self.counters[key] = self.counters.get(key, 0) + 1
            return self.counters[key]

    # -- routes ------------------------------------------------------------------

    def route(self, h: _Handler) -> None:
        parts = urlsplit(h.path)
        path = parts.path
        if serve(self.escape, h, path):
            return
        if path == "/robots.txt":
            h._send(200, b"User-agent: *\nDisallow: /private/\n", "text/plain")
        elif path == "/":
            h._send(200, self._listing().encode())
        elif path.startswith("/ad/"):
            self._ad(h, path[4:])
        elif path == "/loop/b":
            h._redirect("/ad/loop")
        elif path == "/hop/2":
            h._redirect(f"{self.internal_url}/hop")
        elif path.startswith("/calendar/"):
            h._send(200, self._calendar(path).encode())
        elif path == "/list":
            h._send(200, self._variants(parse_qs(parts.query)).encode())
        elif path == "/closed/":
            links = "".join(
                f'<a class="ad" href="/closed/ad/{n}">closed {n}</a> ' for n in range(1, 13)
            )
            h._send(200, _page("closed", links).encode())
        elif path.startswith("/closed/ad/"):
            h._send(503, b"maintenance", "text/plain", {"Retry-After": "1"})
        else:
            h._send(404, _page("not found", "<p>not found</p>").encode())

    def _listing(self) -> str:
        internal = self.internal_url
        links = [f'<a class="ad" href="/ad/{a[0]}">{a[2]}</a>' for a in GOOD_ADS]
        links += [f'<a class="ad" href="/ad/{a}">offer {a}</a>' for a in (*LIMITED_ADS, "loop")]
        links += [f'<a class="ad" href="/ad/{a}">offer {a}</a>' for a in SSRF_ADS]
        # Direct links off the platform: the spider's host filter drops them.
        links += [
            f'<a class="ad" href="{internal}/link">internal by IP</a>',
            f'<a class="ad" href="http://localhost:{self.internal_port}/link">internal by name</a>',
        ]
        nav = (
            '<a class="next" href="/calendar/2026/01/">calendar</a> '
            '<a class="next" href="/list?page=1&amp;sid=a0">more</a>'
        )
        return _page(
            "Hostile board", "<ul>" + "".join(f"<li>{x}</li>" for x in links) + f"</ul>{nav}"
        )

    def _calendar(self, path: str) -> str:
        try:
            year, month = (int(x) for x in path.strip("/").split("/")[1:3])
        except ValueError:
            year, month = 2026, 1
        ny, nm = (year + 1, 1) if month == 12 else (year, month + 1)
        py, pm = (year - 1, 12) if month == 1 else (year, month - 1)
        return _page(
            f"{year}-{month:02d}",
            f'<a class="next" href="/calendar/{ny}/{nm:02d}/">next month</a> '
            f'<a class="next" href="/calendar/{py}/{pm:02d}/">previous month</a>',
        )

    def _variants(self, query: dict[str, list[str]]) -> str:
        page = int((query.get("page") or ["1"])[0] or 1)
        sid = (query.get("sid") or ["x"])[0]
        fresh = [hashlib.sha256(f"{sid}/{page}/{k}".encode()).hexdigest()[:8] for k in range(3)]
        links = [f'<a class="next" href="/list?page={page + 1}&amp;sid={fresh[0]}">next</a>']
        links += [
            f'<a class="next" href="/list?page={page}&amp;sid={s}&amp;sort=new">sort</a>'
            for s in fresh[1:]
        ]
        return _page(f"page {page}", " ".join(links))

    def _ad(self, h: _Handler, ad_id: str) -> None:
        good = {a[0]: a for a in GOOD_ADS}
        internal = self.internal_url
        redirects = {
            "loop": "/loop/b",
            "ssrf-ip": f"{internal}/secret",
            "ssrf-localhost": f"http://localhost:{self.internal_port}/secret",
            "ssrf-hop": "/hop/2",
            "ssrf-zero": f"http://0.0.0.0:{self.internal_port}/secret",
            "ssrf-v6": f"http://[::1]:{self.internal_port}/secret",
            "ssrf-decimal": f"http://2130706433:{self.internal_port}/secret",
        }
        if ad_id in redirects:
            h._redirect(redirects[ad_id])
        elif ad_id == "storm" and self._count("storm") <= STORM_REFUSALS:
            h._send(429, b"slow down", "text/plain", {"Retry-After": "1"})
        elif ad_id == "busy" and self._count("busy") <= 1:
            when = email.utils.formatdate(time.time() + 2, usegmt=True)
            h._send(503, b"busy", "text/plain", {"Retry-After": when})
        elif ad_id in good:
            self._good(h, good[ad_id])
        elif ad_id == "drip":
            self._drip(h)
        elif ad_id == "huge":
            self._huge(h, chunked=False)
        elif ad_id == "huge-stream":
            self._huge(h, chunked=True)
        elif ad_id == "bomb":
            h._send(200, self.bomb(), "text/html; charset=utf-8", {"Content-Encoding": "gzip"})
        else:
            h._send(404, _page("not found", "<p>no such advert</p>").encode())

    def _good(self, h: _Handler, ad: tuple[str, ...]) -> None:
        trick = ad[5]
        html = _page(ad[2], _ad_html(ad))
        if trick == "latin1":
            body = html.encode("latin-1")  # header still says UTF-8
        elif trick == "mixed":
            half = _page(ad[2], _ad_html(ad) + "<p>", charset="windows-1251").encode("utf-8")
            body = half + "Привет, объявление".encode("cp1251") + b"</p>"
        elif trick == "malformed":
            inner = (
                _ad_html(ad) + "<div><p>unclosed <b>bold <i>italic</p></div></span></p>\x00<<<>>"
            )
            # No </head>, no </body>, mis-nested and unclosed tags, a NUL, stray bytes.
            body = ("<html><head><title>broken</title><body>" + inner + "<table><tr><td>").encode()
            body += b"\xff\xfe stray bytes <a href='/ad/h4-malformed>broken quote"
        else:
            body = html.encode()
        h._send(200, body)

    def _drip(self, h: _Handler) -> None:
        entry = h._log(200)
        try:
            h.wfile.write(
                f"HTTP/1.1 200 OK\r\nServer: {SERVER_NAME}\r\nContent-Type: text/html\r\n"
                f"Content-Length: {DRIP_LENGTH}\r\n\r\n".encode()
            )
            h.wfile.flush()
            for _ in range(DRIP_LENGTH):
                if self.stopped.wait(DRIP_INTERVAL):
                    break
                h.wfile.write(b" ")
                h.wfile.flush()
        finally:
            entry.ended = time.time()
            h.close_connection = True

    def _huge(self, h: _Handler, chunked: bool) -> None:
        h._log(200)
        framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {HUGE_SIZE}"
        h.wfile.write(
            f"HTTP/1.1 200 OK\r\nServer: {SERVER_NAME}\r\nContent-Type: text/html\r\n"
            f"{framing}\r\n\r\n".encode()
        )
        block = b"<p>" + b"x" * 65_530 + b"</p>"
        sent = 0
        while sent < HUGE_SIZE and not self.stopped.is_set():
            h.wfile.write(b"%x\r\n%s\r\n" % (len(block), block) if chunked else block)
            sent += len(block)
        if chunked:
            h.wfile.write(b"0\r\n\r\n")
        h.close_connection = True

    def bomb(self) -> bytes:
        """Zeros that gzip to about a thousandth of their size (built once)."""
        if self._bomb is None:
            self._bomb = gzip_zeros(BOMB_INFLATED)
        return self._bomb


def internal_reachable(site: HostileSite) -> bool:
    """A sanity check for tests: the canary answers when asked directly."""
    with socket.create_connection((INTERNAL_HOST, site.internal_port or 0), timeout=2) as s:
        s.sendall(b"GET /probe HTTP/1.0\r\nHost: internal\r\n\r\n")
        return s.recv(16).startswith(b"HTTP/1.")


__all__ = ["HOST", "NAME", "HitLogEntry", "HostileSite", "internal_reachable"]
