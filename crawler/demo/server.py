"""Serve a World over real HTTP: platform *i* on ``127.0.0.(10+i)``, one port for all.

Distinct loopback addresses give each platform its own Scrapy politeness slot
and keep 127.0.0.1 free for SSRF tests. Pages are pre-rendered; the handler
only looks them up, applies the platform's transport quirks (gzip for
kz_board, chunked for uk_directory, the age-gate cookie for th_board) and
logs the request, so tests and benchmarks can check what a crawler did.

    python -m crawler.demo.server --seed 1 --ads 12 --port 0 --truth truth.json --log log.jsonl
"""

from __future__ import annotations

import argparse
import contextlib
import email.utils
import errno
import gzip
import json
import signal
import socket
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

from crawler.demo.hostile import HostileSite
from crawler.demo.render import AGE_COOKIE, Page, page_key, render_site
from crawler.demo.world import DEFAULT_PORT, PlatformSpec, World, build_world

GZIP_PLATFORMS = frozenset({"kz_board"})
CHUNKED_PLATFORMS = frozenset({"uk_directory"})
CHUNK_SIZE = 2048
SERVER_NAME = "adarchive-fixture-web/1"
_NOT_FOUND = Page(
    b"<!DOCTYPE html><html><body><p>not found</p></body></html>", "text/html; charset=utf-8", 404
)


@dataclass
class RequestLogEntry:
    """One request as the fixture web saw it."""

    method: str
    host: str
    """The platform's address (``127.0.0.11``…), not the Host header."""
    path: str
    """The request target: path and query as sent."""
    url: str
    time: float
    """Epoch seconds when the request was read."""
    user_agent: str | None
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    platform: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


@dataclass
class _Site:
    spec: PlatformSpec
    pages: dict[str, Page]
    gzip: bool
    chunked: bool
    gzipped: dict[str, bytes] = field(default_factory=dict)


class _PlatformServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], site: _Site, web: FixtureWeb) -> None:
        self.site = site
        self.web = web
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = SERVER_NAME
    sys_version = ""
    server: _PlatformServer

    def setup(self) -> None:
        super().setup()
        # one write per response, but never wait for Nagle on keep-alive connections
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silence stderr logging; the request log is the record."""

    def _serve(self, head: bool) -> None:
        started = time.time()
        if self.server.web.latency > 0:
            time.sleep(self.server.web.latency)  # the simulated site's time to first byte
        site = self.server.site
        key = page_key(self.path)
        page = site.pages.get(key, _NOT_FOUND)
        if page.gate is not None and not _cookie_set(self.headers.get("Cookie", "")):
            page = page.gate
        body = page.body
        headers = [
            ("Server", SERVER_NAME),
            ("Date", email.utils.formatdate(started, usegmt=True)),
            ("Content-Type", page.content_type),
        ]
        if (
            site.gzip
            and _compressible(page)
            and _accepts_gzip(self.headers.get("Accept-Encoding", ""))
        ):
            if key not in site.gzipped:
                site.gzipped[key] = gzip.compress(body, mtime=0)
            body = site.gzipped[key]
            headers.append(("Content-Encoding", "gzip"))
        if site.gzip and _compressible(page):
            headers.append(("Vary", "Accept-Encoding"))
        chunked = site.chunked and self.request_version == "HTTP/1.1"
        if chunked:
            headers.append(("Transfer-Encoding", "chunked"))
        else:
            headers.append(("Content-Length", str(len(body))))
        if self.close_connection:
            headers.append(("Connection", "close"))
        elif self.request_version == "HTTP/1.0":
            headers.append(("Connection", "keep-alive"))
        reason = HTTPStatus(page.status).phrase
        head_bytes = (
            f"HTTP/1.1 {page.status} {reason}\r\n".encode("latin-1")
            + b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in headers)
            + b"\r\n"
        )
        payload = b"" if head else (_chunk(body) if chunked else body)
        # logged before answering, so a client that has its response finds the entry
        self.server.web._record(
            RequestLogEntry(
                method=self.command,
                host=site.spec.host,
                path=self.path,
                url=f"http://{site.spec.host}:{self.server.server_address[1]}{self.path}",
                time=started,
                user_agent=self.headers.get("User-Agent"),
                status=page.status,
                headers=dict(self.headers.items()),
                platform=site.spec.name,
            )
        )
        try:
            self.wfile.write(head_bytes + payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def _cookie_set(header: str) -> bool:
    try:
        jar = SimpleCookie(header)
    except CookieError:
        return False
    return AGE_COOKIE in jar and jar[AGE_COOKIE].value == "1"


def _compressible(page: Page) -> bool:
    return page.content_type.startswith(("text/", "application/json"))


def _accepts_gzip(header: str) -> bool:
    for part in header.lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip() in ("gzip", "x-gzip", "*"):
            q = params.strip()
            if q.startswith("q="):
                with contextlib.suppress(ValueError):
                    return float(q[2:]) > 0
            return True
    return False


def _chunk(body: bytes) -> bytes:
    parts = [
        b"%x\r\n%s\r\n" % (len(body[i : i + CHUNK_SIZE]), body[i : i + CHUNK_SIZE])
        for i in range(0, len(body), CHUNK_SIZE)
    ]
    return b"".join(parts) + b"0\r\n\r\n"


class FixtureWeb:
    """The fixture web for one World: start, read ``base_urls`` / ``request_log``, stop.

    ``port=0`` picks one free port that is free on every platform address.
    """

    def __init__(
        self,
        world: World,
        port: int = DEFAULT_PORT,
        log_path: str | Path | None = None,
        latency: float = 0.0,
    ):
        self.world = world
        self.latency = latency
        """Seconds each response waits before it is sent: a real site's time to first byte,
        so a benchmark's crawl is bound by requests in flight as real crawls are."""
        self.requested_port = port
        self.port: int | None = None
        self.request_log: list[RequestLogEntry] = []
        self._log_path = Path(log_path) if log_path else None
        self._log_file: IO[str] | None = None
        self._lock = threading.Lock()
        self._servers: list[_PlatformServer] = []
        self._threads: list[threading.Thread] = []
        self._sites = [
            _Site(
                spec=p.spec,
                pages=render_site(p),
                gzip=p.spec.name in GZIP_PLATFORMS,
                chunked=p.spec.name in CHUNKED_PLATFORMS,
            )
            for p in world.platforms
        ]
        # Issue 7: the hostile platform (127.0.0.16) and its internal canary
        # (127.0.0.1) have their own request logs and are not in base_urls.
        self.hostile = HostileSite()

    # -- lifecycle

    def start(self) -> FixtureWeb:
        """Bind every platform address and serve in background threads."""
        if self._servers:
            return self
        self._bind()
        if self._log_path:
            self._log_file = self._log_path.open("a", encoding="utf-8")
        for server in self._servers:
            t = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name=f"fixture-{server.site.spec.name}",
                daemon=True,
            )
            t.start()
            self._threads.append(t)
        self.hostile.start()  # issue 7
        return self

    def _bind(self) -> None:
        attempts = 50 if self.requested_port == 0 else 1
        last_error: OSError | None = None
        for _ in range(attempts):
            servers: list[_PlatformServer] = []
            port = self.requested_port
            try:
                for site in self._sites:
                    server = _PlatformServer((site.spec.host, port), site, self)
                    port = server.server_address[1]
                    servers.append(server)
                port = self.hostile.bind(port)  # issue 7: same port, its own address
            except OSError as exc:
                for s in servers:
                    s.server_close()
                self.hostile.unbind()
                if exc.errno != errno.EADDRINUSE:
                    raise
                last_error = exc
                continue
            self._servers, self.port = servers, port
            return
        raise OSError(errno.EADDRINUSE, f"no port free on every platform address: {last_error}")

    def stop(self) -> None:
        self.hostile.close()  # issue 7
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for t in self._threads:
            t.join(timeout=5)
        self._servers, self._threads = [], []
        with self._lock:
            if self._log_file:
                self._log_file.close()
                self._log_file = None

    def __enter__(self) -> FixtureWeb:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what callers read

    @property
    def base_urls(self) -> dict[str, str]:
        port = self.port if self.port is not None else self.requested_port
        return {s.spec.name: f"http://{s.spec.host}:{port}" for s in self._sites}

    @property
    def start_urls(self) -> dict[str, str]:
        bases = self.base_urls
        return {s.spec.name: bases[s.spec.name] + s.spec.listing_first for s in self._sites}

    def truth(self) -> dict:
        return self.world.truth(self.base_urls)

    def write_truth(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.truth(), ensure_ascii=False, indent=1), encoding="utf-8")
        return path

    def clear_log(self) -> None:
        with self._lock:
            self.request_log.clear()

    def _record(self, entry: RequestLogEntry) -> None:
        with self._lock:
            self.request_log.append(entry)
            if self._log_file:
                self._log_file.write(entry.to_json() + "\n")
                self._log_file.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m crawler.demo.server", description="Serve the synthetic fixture web."
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ads", type=int, default=12, help="adverts per platform")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--truth", type=Path, help="write truth.json here")
    parser.add_argument("--log", type=Path, help="append the request log here as JSONL")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds before each response (benchmarks)"
    )
    args = parser.parse_args(argv)

    world = build_world(seed=args.seed, ads_per_platform=args.ads)
    web = FixtureWeb(world, args.port, args.log, latency=args.latency)
    try:
        web.start()
    except OSError as exc:
        print(
            f"fixture web: cannot listen on port {args.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    if args.truth:
        web.write_truth(args.truth)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(json.dumps({"base_urls": web.base_urls, "start_urls": web.start_urls}), flush=True)
    while not stop.wait(0.5):
        pass
    web.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
