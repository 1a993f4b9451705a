"""WARC record specs for one Scrapy exchange: response, request and metadata.

Scrapy (through Twisted) does not expose the bytes on the wire: header names
arrive title-cased, the reason phrase is lost, and Content-Length, Connection
and Transfer-Encoding are consumed. So the HTTP heads here are a faithful
*reconstruction* from what Scrapy exposes, and the body is stored as received
(transfer-decoding removed, content-coding intact). :data:`RECONSTRUCTION_LIMITS`
says what cannot be preserved; the middleware writes it into every warcinfo.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import ParseResult, urldefrag, urlparse

from crawler.archive.digests import secret_digest
from crawler.archive.writer import RecordSpec, warc_date, warc_fields

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.http import Response

HTTP_VERSIONS = ("HTTP/1.0", "HTTP/1.1")
DEFAULT_HTTP_VERSION = "HTTP/1.1"
SECRET_HEADERS = frozenset({b"cookie", b"authorization", b"proxy-authorization"})
# Headers the stored (de-chunked) body no longer matches: kept under another name.
RENAMED_RESPONSE_HEADERS = frozenset({b"transfer-encoding"})
ORIG_PREFIX = b"X-Archive-Orig-"
DEFAULT_PORTS = {"http": 80, "https": 443}

RECONSTRUCTION_LIMITS = (
    "HTTP status lines and headers are reconstructed from what Scrapy/Twisted expose, "
    "not copied from the wire",
    "the reason phrase is not preserved: the standard phrase for the status code is written",
    "header order and name case are not preserved: names are title-cased as Scrapy delivers them",
    "Content-Length, Connection, Keep-Alive and Transfer-Encoding response headers are consumed "
    "by Twisted and absent; a Transfer-Encoding that does reach us is renamed "
    "X-Archive-Orig-Transfer-Encoding",
    "chunk boundaries and trailers of chunked responses are not preserved: the body is stored "
    "de-chunked, with its content-coding (gzip, deflate, br) intact",
    "request records show the headers Scrapy handed to the downloader; Host is derived from the "
    "URL and Content-Length from the body; Cookie, Authorization and Proxy-Authorization values "
    "are replaced by sha256:<hex> of the value",
    "the HTTP version of request lines is that of the response",
)


@dataclass(frozen=True)
class ExchangeContext:
    """What the metadata record says about the crawl around one exchange."""

    platform: str
    crawl_id: int | None
    spider: str
    software: str


@dataclass(frozen=True)
class ExchangeIds:
    """Pre-assigned record ids, so records can point at each other (WARC-Concurrent-To)."""

    response: str
    request: str
    metadata: str


def http_version(response: Response) -> str:
    protocol = (response.protocol or "").upper()
    return protocol if protocol in HTTP_VERSIONS else DEFAULT_HTTP_VERSION


def status_line(status: int, version: str = DEFAULT_HTTP_VERSION) -> bytes:
    """``HTTP/1.1 404 Not Found``: the standard phrase, as Scrapy loses the real one."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    return f"{version} {status} {reason}".encode("latin-1")


def _header_lines(items: Iterable[tuple[bytes, Iterable[bytes]]]) -> list[bytes]:
    return [name + b": " + _one_line(value) for name, values in items for value in values]


def _one_line(value: bytes) -> bytes:
    """Header values never break the head: CR/LF become spaces."""
    return value.replace(b"\r", b" ").replace(b"\n", b" ")


def _head(first_line: bytes, lines: list[bytes]) -> bytes:
    return b"\r\n".join([first_line, *lines]) + b"\r\n\r\n"


def response_head(response: Response) -> bytes:
    """Reconstructed status line and headers, none claiming a transfer-coding."""
    lines: list[tuple[bytes, list[bytes]]] = []
    for name, values in response.headers.items():
        key = bytes(name)
        if key.lower() in RENAMED_RESPONSE_HEADERS:
            key = ORIG_PREFIX + key
        elif key.lower() == b"content-length" and values != [str(len(response.body)).encode()]:
            key = ORIG_PREFIX + key  # it no longer describes the stored body
        lines.append((key, list(values)))
    return _head(status_line(response.status, http_version(response)), _header_lines(lines))


def _parsed(request: Request) -> ParseResult:
    # Not Scrapy's urlparse_cached: importing it loads all of Scrapy in the evidence writer.
    return urlparse(request.url)


def request_target(request: Request) -> str:
    """Path, params and query string as sent on the request line (never the fragment)."""
    parsed = _parsed(request)
    target = parsed.path or "/"
    if parsed.params:
        target += ";" + parsed.params
    if parsed.query:
        target += "?" + parsed.query
    return target


def host_header(request: Request) -> bytes:
    parsed = _parsed(request)
    host = parsed.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if parsed.port and parsed.port != DEFAULT_PORTS.get(parsed.scheme):
        host += f":{parsed.port}"
    return host.encode("latin-1", "replace")  # Scrapy URLs are already ASCII (punycode)


def request_head(request: Request, version: str = DEFAULT_HTTP_VERSION) -> bytes:
    """Request line with query string, Host first, secrets replaced by their SHA-256."""
    first = f"{request.method} {request_target(request)} {version}".encode("latin-1")
    items: list[tuple[bytes, list[bytes]]] = [(b"Host", [host_header(request)])]
    has_length = False
    for name, values in request.headers.items():
        key = bytes(name)
        lower = key.lower()
        if lower == b"host":
            items[0] = (b"Host", list(values))
            continue
        has_length = has_length or lower == b"content-length"
        if lower in SECRET_HEADERS:
            values = [secret_digest(v).encode("ascii") for v in values]
        items.append((key, list(values)))
    if request.body and not has_length:
        items.append((b"Content-Length", [str(len(request.body)).encode()]))
    return _head(first, _header_lines(items))


def referring_page(request: Request) -> str | None:
    referer = request.headers.get(b"Referer")
    if referer:
        return referer.decode("latin-1")
    value = request.meta.get("adarchive_referer") or request.meta.get("referer")
    return str(value) if value else None


def metadata_fields(
    request: Request, response: Response, context: ExchangeContext, fetched_at: datetime
) -> dict[str, object]:
    latency = request.meta.get("download_latency")
    protocol = response.protocol or ""
    return {
        "software": context.software,
        "platform": context.platform,
        "crawl-id": context.crawl_id,
        "spider": context.spider,
        "via": referring_page(request),
        "redirected-from": list(request.meta.get("redirect_urls") or []),
        "depth": request.meta.get("depth"),
        "fetch-time": warc_date(fetched_at),
        "fetchTimeMs": None if latency is None else round(float(latency) * 1000),
        "protocol": protocol if protocol and protocol.upper() not in HTTP_VERSIONS else None,
        "response-flags": " ".join(response.flags) or None,
    }


def content_type(response: Response) -> str | None:
    value = response.headers.get(b"Content-Type")
    return value.decode("latin-1") if value else None


def build_exchange(
    request: Request,
    response: Response,
    *,
    ids: ExchangeIds,
    fetched_at: datetime,
    context: ExchangeContext,
) -> list[RecordSpec]:
    """The response, request and metadata records for one fetch, response first."""
    ip = str(response.ip_address) if response.ip_address is not None else None
    url = urldefrag(response.url).url  # the fragment is never sent
    version = http_version(response)
    concurrent = (("WARC-Concurrent-To", ids.response),)
    ip_header = (("WARC-IP-Address", ip),) if ip else ()
    response_spec = RecordSpec(
        kind="response",
        url=url,
        date=fetched_at,
        record_id=ids.response,
        http_head=response_head(response),
        payload=response.body,
        warc_headers=ip_header,
        status=response.status,
        ip=ip,
        content_type=content_type(response),
    )
    request_spec = RecordSpec(
        kind="request",
        url=urldefrag(request.url).url,
        date=fetched_at,
        record_id=ids.request,
        http_head=request_head(request, version),
        payload=request.body or b"",
        warc_headers=ip_header + concurrent,
        ip=ip,
    )
    metadata_spec = RecordSpec(
        kind="metadata",
        url=url,
        date=fetched_at,
        record_id=ids.metadata,
        payload=warc_fields(metadata_fields(request, response, context, fetched_at)),
        warc_headers=concurrent,
        content_type="application/warc-fields",
    )
    return [response_spec, request_spec, metadata_spec]
