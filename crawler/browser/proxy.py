"""The browser's only way out: a forward proxy on loopback that decides every connection.

``page.route`` never sees redirect hops before they are sent, popups, worker
and shared-worker traffic, WebSockets opened by workers, WebRTC or
speculation-rules prefetch. A proxy sees all of them, because Chromium is
launched with it (Playwright then adds ``<-loopback>`` to the bypass list, so
loopback goes through it too), resolves no name itself
(``--host-resolver-rules``) and sends no UDP outside it
(``--webrtc-ip-handling-policy=disable_non_proxied_udp``, Chromium's own
spelling: the issue's ``--force-…`` is ignored, tests/test_webrtc_flag.py).

For each connection (each redirect hop is a new one) the proxy:

1. refuses a host outside the platform's ``allowed_hosts``; an IP literal is
   first judged by its address class (``169.254.169.254`` is refused as
   link-local without any connection);
2. resolves the name once and refuses it when any answer is not public (the
   crawl's ``ADARCHIVE_ALLOWED_ADDRESSES`` excepted);
3. refuses a port the platform does not use;
4. connects to exactly the address it checked (no second look-up);
5. relays at most ``max_body`` bytes of a plain-HTTP response, counted both as
   sent and inflated (gzip, deflate, br), and at most ``max_tunnel`` bytes
   through a CONNECT tunnel.

HTTPS is an opaque CONNECT tunnel: host, port and address are checked as
above, the tunnel's bytes are capped, but what is inside (each request of a
keep-alive or HTTP/2 tunnel, redirect targets on the same host, inflated
sizes) is not seen. Redirects leaving the host open a new tunnel and are
checked; inflated sizes inside TLS are bounded by the page's byte budget and
the memory watchdog (``crawler.browser.memory``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from crawler.guard.address import AllowList, check_address, literal_address
from crawler.platforms import host_allowed

try:  # brotli is what Scrapy itself uses for br; without it br bodies are refused
    import brotli
except ImportError:  # pragma: no cover - brotli is a dependency of the crawl
    brotli = None

logger = logging.getLogger(__name__)

HEAD_LIMIT = 64 * 1024
CHUNK = 64 * 1024
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authorization",
        "proxy-authenticate",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
Resolver = Callable[[str], Awaitable[list[str]]]


@dataclass(frozen=True)
class ProxyRefusal:
    """One connection the proxy refused, and why."""

    kind: str
    """``ssrf``, ``browser-offsite``, ``browser-port``, ``browser-scheme``,
    ``browser-unresolved``, ``browser-size``."""
    target: str
    """What the browser asked for (``METHOD URL`` or ``CONNECT host:port``)."""
    reason: str
    time: float


@dataclass
class ProxyPolicy:
    """What one platform's browser may reach."""

    allowed_hosts: tuple[str, ...]
    ports: frozenset[int]
    allow: AllowList = field(default_factory=AllowList)
    ssrf: bool = True
    max_body: int = 32 * 1024 * 1024
    """Bytes of one plain-HTTP response, as sent and as inflated."""
    max_tunnel: int = 64 * 1024 * 1024
    """Bytes relayed to the browser through one CONNECT tunnel."""


class Refused(Exception):
    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


async def system_resolve(host: str) -> list[str]:
    """Every address the system resolver gives (one look-up), empty when none."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, type=1)  # SOCK_STREAM
    except (OSError, UnicodeError):
        return []
    return sorted({str(info[4][0]) for info in infos})


def static_resolver(answers: dict[str, Sequence[str]], fallback: Resolver) -> Resolver:
    """Fixed answers for some names; a list is cycled, one element per look-up.

    A cycled list is how tests play a rebinding name (public first, loopback next).
    """
    cycles: dict[str, Iterator[str]] = {
        name.lower(): itertools.cycle([str(a) for a in values])
        for name, values in answers.items()
        if values
    }

    async def resolve(host: str) -> list[str]:
        cycle = cycles.get(host.lower().rstrip("."))
        return [next(cycle)] if cycle is not None else await fallback(host)

    return resolve


class EgressProxy:
    """A forward proxy on 127.0.0.1 enforcing a :class:`ProxyPolicy` (runs on the crawl's loop)."""

    def __init__(self, policy: ProxyPolicy, resolve: Resolver = system_resolve) -> None:
        self.policy = policy
        self.resolve = resolve
        self.refusals: list[ProxyRefusal] = []
        self.connections: list[tuple[str, str, int]] = []
        """(host, address, port) of every upstream connection opened, for the record and tests."""
        self.listeners: set[Callable[[ProxyRefusal], None]] = set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> str:
        """Listen on an ephemeral loopback port; returns ``http://127.0.0.1:PORT``."""
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return self.url

    @property
    def address(self) -> tuple[str, int]:
        assert self._server is not None, "proxy not started"
        host, port = self._server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._tasks):
            task.cancel()

    def connection_summary(self) -> str:
        """Every address:port the proxy opened a connection to, with counts (for the log)."""
        counts: dict[str, int] = {}
        for _host, address, port in self.connections:
            key = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
            counts[key] = counts.get(key, 0) + 1
        return ", ".join(f"{k} ({n})" for k, n in sorted(counts.items()))

    # -- decisions -------------------------------------------------------------

    async def decide(self, host: str, port: int) -> str:
        """The one address to connect to for ``host:port``, or :class:`Refused`."""
        policy = self.policy
        host = host.lower().rstrip(".").strip("[]")
        literal = literal_address(host)
        if literal is not None and policy.ssrf:  # judged by class before anything else
            decision = check_address(literal, policy.allow)
            if not decision.allowed:
                raise Refused("ssrf", f"{host} is {decision.reason}, not on the allow-list")
        if not host_allowed(host, policy.allowed_hosts):
            raise Refused(
                "browser-offsite", f"host {host!r} is not an allowed host of the platform"
            )
        if literal is not None:
            self._check_port(port)
            return str(literal)
        addresses = await self.resolve(host)
        if not addresses:
            raise Refused("browser-unresolved", f"{host} does not resolve")
        if policy.ssrf:
            for address in addresses:
                decision = check_address(address, policy.allow)
                if not decision.allowed:
                    raise Refused(
                        "ssrf", f"{host} resolves to {address}, {decision.reason}, not allowed"
                    )
        self._check_port(port)
        return addresses[0]

    def _check_port(self, port: int) -> None:
        if port not in self.policy.ports:
            raise Refused("browser-port", f"port {port} is not a port the platform uses")

    def _refuse(self, target: str, exc: Refused) -> None:
        refusal = ProxyRefusal(exc.kind, target, exc.reason, time.time())
        self.refusals.append(refusal)
        logger.info("browser proxy refused %s: %s", target, exc.reason)
        for listener in list(self.listeners):
            try:
                listener(refusal)
            except Exception:  # a listener's bug must not stop the proxy
                logger.exception("browser proxy refusal listener failed")

    async def _open(
        self, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        address = await self.decide(host, port)
        self.connections.append((host, address, port))
        return await asyncio.open_connection(address, port)

    # -- one client connection ---------------------------------------------------

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        target = "?"
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            if len(head) > HEAD_LIMIT:
                return
            method, uri, lines = _parse_head(head)
            target = f"{method} {uri}"
            if method == "CONNECT":
                await self._tunnel(uri, reader, writer)
            else:
                await self._forward(method, uri, lines, reader, writer)
        except Refused as exc:
            self._refuse(target, exc)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            if task is not None:
                self._tasks.discard(task)

    async def _tunnel(
        self, authority: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        host, _, port_text = authority.rpartition(":")
        if not host or not port_text.isdigit():
            raise Refused("browser-scheme", f"CONNECT to {authority!r} is not host:port")
        try:
            up_reader, up_writer = await self._open(host, int(port_text))
        except OSError:
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        limit = self.policy.max_tunnel
        try:
            up = asyncio.ensure_future(_pipe(reader, up_writer, None))
            down = asyncio.ensure_future(_pipe(up_reader, writer, limit))
            done, pending = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            if down in done and down.result() is False:
                raise Refused(
                    "browser-size", f"tunnel to {authority} relayed more than {limit} bytes"
                )
        finally:
            up_writer.close()

    async def _forward(
        self,
        method: str,
        uri: str,
        lines: list[tuple[str, str]],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        parts = urlsplit(uri)
        if parts.scheme.lower() != "http" or not parts.hostname:
            raise Refused("browser-scheme", f"{uri!r} is not an absolute http URL")
        port = parts.port or 80
        headers = [(k, v) for k, v in lines if k.lower() not in HOP_BY_HOP]
        length = _header(lines, "content-length")
        if _header(lines, "transfer-encoding"):
            raise Refused("browser-scheme", "chunked request bodies are not relayed")
        up_reader, up_writer = await self._open(parts.hostname, port)
        try:
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
            out = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers)]
            out.append("Connection: close")
            up_writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1"))
            if length and length.isdigit() and int(length):
                up_writer.write(await reader.readexactly(min(int(length), self.policy.max_body)))
            await up_writer.drain()
            await self._relay_response(method, uri, up_reader, writer)
        finally:
            up_writer.close()

    async def _relay_response(
        self, method: str, uri: str, up: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        head = await up.readuntil(b"\r\n\r\n")
        status_line, _, rest = head.decode("latin-1").partition("\r\n")
        lines = _header_lines(rest)
        status = int(status_line.split()[1])
        chunked = "chunked" in (_header(lines, "transfer-encoding") or "").lower()
        length = _header(lines, "content-length")
        encoding = (_header(lines, "content-encoding") or "").strip().lower()
        limit = self.policy.max_body
        if length and length.isdigit() and int(length) > limit:
            raise Refused("browser-size", f"{uri} declares {length} bytes, over {limit}")
        kept = [(k, v) for k, v in lines if k.lower() not in HOP_BY_HOP]
        out = [status_line, *(f"{k}: {v}" for k, v in kept), "Connection: close"]
        writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1"))
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return
        inflater = _Inflater(encoding, limit)
        sent = 0
        async for block in _body(up, chunked, int(length) if length and length.isdigit() else None):
            sent += len(block)
            if sent > limit:
                raise Refused("browser-size", f"{uri}: body over {limit} bytes")
            why = inflater.feed(block)
            if why:
                raise Refused("browser-size", f"{uri}: {why}")
            writer.write(block)
            await writer.drain()


class _Inflater:
    """Counts what a gzip/deflate/br body inflates to, in bounded steps, without keeping it."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.limit = limit
        self.total = 0
        self.encoding = encoding
        self._z: Any = None
        self._br: Any = None
        self._started = False

    def feed(self, block: bytes) -> str | None:
        encoding = self.encoding
        if not encoding or encoding == "identity":
            return None
        if not self._started:
            self._started = True
            if encoding in ("gzip", "x-gzip"):
                self._z = zlib.decompressobj(zlib.MAX_WBITS | 16)
            elif encoding == "deflate":  # zlib-wrapped, or raw as some servers send it
                wrapped = (
                    len(block) >= 2
                    and block[0] & 0x0F == 8
                    and (block[0] << 8 | block[1]) % 31 == 0
                )
                self._z = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
            elif encoding == "br" and brotli is not None:
                self._br = brotli.Decompressor()
        if self._z is None and self._br is None:
            return f"content-encoding {encoding!r} cannot be measured, so is not relayed"
        try:
            if self._z is not None:
                out = self._z.decompress(block, CHUNK)
                self.total += len(out)
                while self._z.unconsumed_tail and self.total <= self.limit:
                    out = self._z.decompress(self._z.unconsumed_tail, CHUNK)
                    self.total += len(out)
            else:
                out = self._br.process(block, output_buffer_limit=CHUNK)
                self.total += len(out)
                # brotli 1.2 holds back output past the limit; drain it in steps
                while out and not self._br.is_finished() and self.total <= self.limit:
                    out = self._br.process(b"", output_buffer_limit=CHUNK)
                    self.total += len(out)
        except Exception as exc:  # zlib.error, brotli.error
            return f"{encoding} body does not decode: {exc}"
        if self.total > self.limit:
            return f"{encoding} body inflates past {self.limit} bytes"
        return None


async def _body(
    up: asyncio.StreamReader, chunked: bool, length: int | None
) -> AsyncIterator[bytes]:
    """The response body in blocks (chunked framing removed; until close when unframed)."""
    if chunked:
        while True:
            size_line = await up.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                return
            yield await up.readexactly(size)
            await up.readexactly(2)
    elif length is not None:
        remaining = length
        while remaining:
            block = await up.read(min(CHUNK, remaining))
            if not block:
                return
            remaining -= len(block)
            yield block
    else:
        while block := await up.read(CHUNK):
            yield block


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, limit: int | None) -> bool:
    """Copy until EOF; False when ``limit`` bytes were exceeded."""
    total = 0
    try:
        while block := await src.read(CHUNK):
            total += len(block)
            if limit is not None and total > limit:
                return False
            dst.write(block)
            await dst.drain()
    except OSError:
        pass
    return True


def _parse_head(head: bytes) -> tuple[str, str, list[tuple[str, str]]]:
    request_line, _, rest = head.decode("latin-1").partition("\r\n")
    method, uri, _version = request_line.split(" ", 2)
    return method.upper(), uri, _header_lines(rest)


def _header_lines(text: str) -> list[tuple[str, str]]:
    pairs = []
    for line in text.split("\r\n"):
        if ":" in line:
            name, _, value = line.partition(":")
            pairs.append((name.strip(), value.strip()))
    return pairs


def _header(lines: list[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in lines if k.lower() == name), None)


__all__ = ["EgressProxy", "ProxyPolicy", "ProxyRefusal", "static_resolver", "system_resolve"]
