"""A canary on 127.0.0.1 that records every TCP connection, UDP datagram and HTTP request.

Hostile fixture pages aim at it (redirects, popups, workers, WebRTC, prefetch);
a guard holds when the canary's log stays empty. It listens on:

* one HTTP port (answers every request with a short 200, WebSocket upgrades
  included, so a leak is visible as an ``http`` hit with method, path, Host);
* a few raw TCP ports (TURN-over-TCP, anything non-HTTP): each accepted
  connection is a ``tcp`` hit with its first bytes;
* one UDP port shaped for STUN/TURN: each datagram is a ``udp`` hit, marked
  ``stun`` when it carries STUN's magic cookie.

Link-local targets (``169.254.169.254``, ``fe80::1``) are never bound here:
no test may configure them on an interface or send a packet to them. They are
given as :attr:`Canary.link_local_urls` for pages to aim at; the guard must
refuse them by address class before any connection, which a test proves by the
refusal reason recorded and by the guard's own list of connections it opened.

Usable from tests as a context manager::

    with Canary() as canary:
        ...
        assert canary.hits == []
"""

from __future__ import annotations

import socketserver
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

HOST = "127.0.0.1"
STUN_MAGIC_COOKIE = 0x2112A442
LINK_LOCAL_V4 = "169.254.169.254"
LINK_LOCAL_V6 = "fe80::1"
_FIRST_BYTES = 200


@dataclass(frozen=True)
class CanaryHit:
    """One thing that reached the canary."""

    kind: str
    """``tcp`` (a connection accepted), ``http`` (a request read) or ``udp`` (a datagram)."""
    port: int
    """The canary port it reached."""
    peer: tuple[str, int]
    time: float
    detail: str = ""
    """HTTP: ``METHOD path Host: h``; TCP: the first bytes (repr); UDP: ``stun`` or the size."""


@dataclass
class _Log:
    hits: list[CanaryHit] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, hit: CanaryHit) -> None:
        with self.lock:
            self.hits.append(hit)


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, log: _Log, http: bool) -> None:
        self.log = log
        self.http = http
        super().__init__((HOST, 0), _TCPHandler)


class _TCPHandler(socketserver.BaseRequestHandler):
    server: _TCPServer

    def handle(self) -> None:
        port = self.server.server_address[1]
        self.server.log.add(CanaryHit("tcp", port, self.client_address, time.time()))
        self.request.settimeout(2)
        if self.server.http:
            self._serve_http(port)
            return
        try:
            first = self.request.recv(_FIRST_BYTES)
        except OSError:
            first = b""
        if first:
            self.server.log.add(
                CanaryHit("tcp", port, self.client_address, time.time(), repr(first))
            )

    def _serve_http(self, port: int) -> None:
        stream = self.request.makefile("rb")
        try:
            while True:
                request_line = stream.readline(8192)
                if not request_line.strip():
                    return
                headers: dict[str, str] = {}
                while (line := stream.readline(8192)).strip():
                    name, _, value = line.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                method, _, rest = request_line.decode("latin-1").strip().partition(" ")
                path = rest.rsplit(" ", 1)[0]
                detail = f"{method} {path} Host: {headers.get('host', '')}"
                self.server.log.add(
                    CanaryHit("http", port, self.client_address, time.time(), detail)
                )
                length = int(headers.get("content-length", "0") or 0)
                if length:
                    stream.read(min(length, 1 << 20))
                body = b"canary secret\n"
                self.request.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                    b"Access-Control-Allow-Origin: *\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
        except (OSError, ValueError):
            return
        finally:
            stream.close()


class _UDPServer(socketserver.ThreadingUDPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, log: _Log) -> None:
        self.log = log
        super().__init__((HOST, 0), _UDPHandler)


class _UDPHandler(socketserver.BaseRequestHandler):
    server: _UDPServer

    def handle(self) -> None:
        data: bytes = self.request[0]
        detail = "stun" if is_stun(data) else f"{len(data)} bytes"
        port = self.server.server_address[1]
        self.server.log.add(CanaryHit("udp", port, self.client_address, time.time(), detail))


def is_stun(data: bytes) -> bool:
    """Whether a datagram is a STUN message (RFC 5389 header with the magic cookie)."""
    if len(data) < 20:
        return False
    _type, _length, cookie = struct.unpack("!HHI", data[:8])
    return cookie == STUN_MAGIC_COOKIE and data[0] & 0xC0 == 0


class Canary:
    """TCP, HTTP and UDP listeners on 127.0.0.1 that record every hit (thread-safe)."""

    def __init__(self, raw_tcp_ports: int = 2) -> None:
        self._log = _Log()
        self._http = _TCPServer(self._log, http=True)
        self._raw = [_TCPServer(self._log, http=False) for _ in range(raw_tcp_ports)]
        self._udp = _UDPServer(self._log)
        self._threads: list[threading.Thread] = []

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> Canary:
        for server in self._servers:
            t = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name=f"canary-{server.server_address[1]}",
                daemon=True,
            )
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        for server in self._servers:
            if self._threads:
                server.shutdown()
            server.server_close()
        for t in self._threads:
            t.join(timeout=5)
        self._threads = []

    def __enter__(self) -> Canary:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def _servers(self) -> list[Any]:
        return [self._http, *self._raw, self._udp]

    # -- where it listens ----------------------------------------------------

    @property
    def http_port(self) -> int:
        return int(self._http.server_address[1])

    @property
    def tcp_ports(self) -> list[int]:
        """The raw TCP ports (not HTTP)."""
        return [int(s.server_address[1]) for s in self._raw]

    @property
    def udp_port(self) -> int:
        return int(self._udp.server_address[1])

    @property
    def http_url(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    @property
    def link_local_urls(self) -> list[str]:
        """Targets a guard must refuse by address class; nothing listens there (on purpose)."""
        port = self.http_port
        return [f"http://{LINK_LOCAL_V4}:{port}/meta", f"http://[{LINK_LOCAL_V6}]:{port}/meta"]

    # -- what tests read -----------------------------------------------------

    @property
    def hits(self) -> list[CanaryHit]:
        with self._log.lock:
            return list(self._log.hits)

    def clear(self) -> None:
        with self._log.lock:
            self._log.hits.clear()

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[CanaryHit]:
        """The hits once at least ``count`` arrived (or what came before ``timeout``)."""
        deadline = time.monotonic() + timeout
        while len(self.hits) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.hits

    def describe(self) -> dict[str, Any]:
        """Ports and URLs as plain data, for a page generator or a subprocess."""
        return {
            "host": HOST,
            "http_port": self.http_port,
            "tcp_ports": self.tcp_ports,
            "udp_port": self.udp_port,
            "link_local_urls": self.link_local_urls,
        }


def stun_binding_request() -> bytes:
    """A minimal STUN Binding Request (what a WebRTC ICE agent sends first)."""
    return struct.pack("!HHI", 0x0001, 0, STUN_MAGIC_COOKIE) + bytes(12)


__all__ = ["Canary", "CanaryHit", "is_stun", "stun_binding_request"]
