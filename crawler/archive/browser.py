"""WARC records for a browser-rendered page: its network traffic, screenshot and rendered DOM.

A scrapy-playwright response carries the rendered DOM under the network
headers, which is not what any server sent, so it is never archived as a
``response``. Instead the browser's own traffic (document, scripts, XHR/fetch
JSON, …) becomes ``response`` + ``request`` records, so the page replays; the
full-page screenshot and the DOM the spider parsed become ``resource`` records
with ``urn:screenshot:`` / ``urn:dom:`` target URIs, so replay never serves them
as the page. Everything points at the page's document response
(``WARC-Concurrent-To`` in the WARC, ``parent_capture_id`` in the store).

This module is pure data in, records out (plus the glue the archive
middleware calls); it never imports Playwright.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import urldefrag, urlsplit

from crawler.archive.digests import secret_digest, sha256_hex
from crawler.archive.records import DEFAULT_PORTS, ExchangeContext, referring_page
from crawler.archive.warcinfo import software
from crawler.archive.writer import RecordSpec, WrittenRecord, warc_date, warc_fields

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.http import Response

    from crawler.archive.archive_middleware import ArchiveMiddleware

META_RENDERED = "adarchive_rendered"
"""Request meta key: the :class:`RenderedPage` the browser handler collected."""
META_DOM_CAPTURE_ID = "adarchive_dom_capture_id"
"""Request meta key: store id of the page's ``urn:dom:`` capture (the text fields were read from)."""

HTTP_VERSION = "HTTP/1.1"
ORIG_PREFIX = "X-Archive-Orig-"
SECRET_HEADERS = frozenset({"cookie", "authorization", "proxy-authorization"})
# Bodies arrive decoded from the browser, so these no longer describe the stored bytes.
RENAMED_HEADERS = frozenset({"content-encoding", "transfer-encoding"})
# Sub-resources stored once per crawl: the same script or image on every page
# would otherwise fill the archive. Documents and XHR/fetch data always are.
ALWAYS_ARCHIVED_TYPES = frozenset({"document", "xhr", "fetch", "eventsource", "other"})

BROWSER_RECONSTRUCTION = (
    "browser traffic: request and response headers as Chromium reports them over DevTools, "
    "not copied from the wire; the HTTP version is not exposed and HTTP/1.1 is written",
    "browser traffic: bodies arrive decoded, so Content-Encoding and Transfer-Encoding are "
    "renamed X-Archive-Orig-*, and so is a Content-Length that no longer matches the body",
    "browser traffic: Cookie, Authorization and Proxy-Authorization values are replaced by "
    "sha256:<hex> of the value",
    "urn:dom: records hold the rendered DOM after the actions, as the spider parsed it; "
    "urn:screenshot: records the full-page PNG taken after the actions",
)


@dataclass(frozen=True)
class BrowserExchange:
    """One request the browser made and the response it received."""

    url: str
    method: str
    resource_type: str
    request_headers: tuple[tuple[str, str], ...]
    request_body: bytes
    status: int
    status_text: str
    response_headers: tuple[tuple[str, str], ...]
    body: bytes | None
    """The decoded body, or None when it could not be read (see ``note``)."""
    received_at: datetime
    ip: str | None = None
    main_document: bool = False
    """A navigation response of the page's main frame."""
    note: str | None = None

    @property
    def content_type(self) -> str | None:
        for name, value in self.response_headers:
            if name.lower() == "content-type":
                return value
        return None


@dataclass
class RenderedPage:
    """Everything the browser handler collected for one page, ready to archive."""

    url: str
    exchanges: list[BrowserExchange]
    page_index: int
    """Index into ``exchanges`` of the page's document response."""
    taken_at: datetime
    screenshot: bytes | None = None
    screenshot_note: str | None = None
    actions: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    unarchived: list[str] = field(default_factory=list)
    """Responses seen but not archived (limit reached, body unreadable), with why."""
    browser: str = ""
    user_agent: str = ""
    viewport: str = ""
    settings: list[str] = field(default_factory=list)
    """``NAME=value`` of the settings that shaped the rendering (timeout, limits)."""

    @property
    def document(self) -> BrowserExchange:
        return self.exchanges[self.page_index]


# -- HTTP heads ---------------------------------------------------------------


def _line(value: str) -> str:
    return value.replace("\r", " ").replace("\n", " ")


def _head(first: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [first, *(f"{_line(name)}: {_line(value)}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "replace")


def browser_response_head(exchange: BrowserExchange) -> bytes:
    """Status line and headers; codings of the decoded body renamed X-Archive-Orig-*."""
    reason = exchange.status_text or _phrase(exchange.status)
    body_length = str(len(exchange.body or b""))
    headers = []
    for name, value in exchange.response_headers:
        lower = name.lower()
        if lower in RENAMED_HEADERS or (lower == "content-length" and value != body_length):
            name = ORIG_PREFIX + name
        headers.append((name, value))
    return _head(f"{HTTP_VERSION} {exchange.status} {reason}".rstrip(), headers)


def browser_request_head(exchange: BrowserExchange) -> bytes:
    """Request line with Host first; secrets replaced by ``sha256:<hex>`` of the value."""
    parts = urlsplit(exchange.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port and parts.port != DEFAULT_PORTS.get(parts.scheme):
        host += f":{parts.port}"
    headers = [("Host", host)]
    for name, value in exchange.request_headers:
        lower = name.lower()
        if lower == "host":
            headers[0] = ("Host", value)
            continue
        if lower in SECRET_HEADERS:
            value = secret_digest(value)
        headers.append((name, value))
    return _head(f"{exchange.method} {target} {HTTP_VERSION}", headers)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


# -- records ------------------------------------------------------------------


def exchange_records(
    exchange: BrowserExchange, response_id: str, request_id: str
) -> list[RecordSpec]:
    """The response and request records of one browser exchange."""
    url = urldefrag(exchange.url).url
    ip_header = (("WARC-IP-Address", exchange.ip),) if exchange.ip else ()
    return [
        RecordSpec(
            kind="response",
            url=url,
            date=exchange.received_at,
            record_id=response_id,
            http_head=browser_response_head(exchange),
            payload=exchange.body or b"",
            warc_headers=ip_header,
            status=exchange.status,
            ip=exchange.ip,
            content_type=exchange.content_type,
        ),
        RecordSpec(
            kind="request",
            url=url,
            date=exchange.received_at,
            record_id=request_id,
            http_head=browser_request_head(exchange),
            payload=exchange.request_body,
            warc_headers=(*ip_header, ("WARC-Concurrent-To", response_id)),
            ip=exchange.ip,
        ),
    ]


def resource_line(exchange: BrowserExchange, outcome: str) -> str:
    digest = "-" if exchange.body is None else "sha256:" + sha256_hex(exchange.body)
    return (
        f"{exchange.method} {exchange.url} {exchange.status} {exchange.resource_type} "
        f"{digest} {outcome}"
    )


def page_metadata(
    page: RenderedPage,
    context: ExchangeContext,
    via: str | None,
    resources: list[str],
    extra: dict[str, object] | None = None,
) -> bytes:
    """The page's ``metadata`` record: how it was rendered, what was done, what was refused."""
    fields: dict[str, object] = {
        "software": context.software,
        "platform": context.platform,
        "crawl-id": context.crawl_id,
        "spider": context.spider,
        "via": via,
        "render": "browser",
        "browser": page.browser,
        "http-header-user-agent": page.user_agent,
        "viewport": page.viewport,
        "fetch-time": warc_date(page.taken_at),
        "action": page.actions,
        "screenshot": page.screenshot_note,
        "blocked": page.blocked,
        "resource": resources,
        "not-archived": page.unarchived,
        "setting": page.settings,
        "reconstruction": list(BROWSER_RECONSTRUCTION),
    }
    fields.update(extra or {})
    return warc_fields(fields)


def build_rendered_page(
    page: RenderedPage,
    *,
    dom: bytes,
    dom_type: str,
    new_id: Any,
    context: ExchangeContext,
    via: str | None = None,
    already_archived: Any = None,
) -> list[RecordSpec]:
    """All records of one rendered page, the page's document response first.

    ``already_archived(exchange) -> bool`` says whether the same sub-resource
    bytes were archived earlier in the crawl (then only listed in the metadata).
    """
    ids = new_id  # ids are assigned up front so records can point at each other
    document = page.document
    page_id = ids()
    url = urldefrag(page.url).url
    concurrent = (("WARC-Concurrent-To", page_id),)
    others: list[RecordSpec] = []
    resources: list[str] = []
    for index, exchange in enumerate(page.exchanges):
        if index == page.page_index:
            resources.append(resource_line(exchange, "page"))
            continue
        if (
            exchange.resource_type not in ALWAYS_ARCHIVED_TYPES
            and already_archived is not None
            and already_archived(exchange)
        ):
            resources.append(resource_line(exchange, "archived-earlier"))
            continue
        outcome = (
            "archived" if exchange.body is not None else f"archived-head-only ({exchange.note})"
        )
        resources.append(resource_line(exchange, outcome))
        others.extend(exchange_records(exchange, ids(), ids()))
    page_records = exchange_records(document, page_id, ids())
    metadata = RecordSpec(
        kind="metadata",
        url=urldefrag(document.url).url,
        date=page.taken_at,
        record_id=ids(),
        payload=page_metadata(page, context, via, resources),
        warc_headers=concurrent,
        content_type="application/warc-fields",
    )
    evidence: list[RecordSpec] = []
    if page.screenshot is not None:
        evidence.append(
            RecordSpec(
                kind="resource",
                url=f"urn:screenshot:{url}",
                date=page.taken_at,
                record_id=ids(),
                payload=page.screenshot,
                warc_headers=concurrent,
                content_type="image/png",
            )
        )
    evidence.append(
        RecordSpec(
            kind="resource",
            url=f"urn:dom:{url}",
            date=page.taken_at,
            record_id=ids(),
            payload=dom,
            warc_headers=concurrent,
            content_type=dom_type,
        )
    )
    return [*page_records, metadata, *others, *evidence]


# -- glue for the archive middleware --------------------------------------------


class BrowserArchiver:
    """Writes rendered pages for one crawl; remembers sub-resources already archived."""

    def __init__(self, middleware: ArchiveMiddleware) -> None:
        self.middleware = middleware
        self._archived: set[tuple[str, str]] = set()

    def already_archived(self, exchange: BrowserExchange) -> bool:
        if exchange.body is None:
            return False
        key = (exchange.url, sha256_hex(exchange.body))
        if key in self._archived:
            return True
        self._archived.add(key)
        return False

    def archive(
        self, request: Request, response: Response, page: RenderedPage
    ) -> tuple[int, WrittenRecord]:
        """Write the page's records in one group; return the document response capture."""
        mw = self.middleware
        context = ExchangeContext(
            platform=mw.recorder.platform,
            crawl_id=mw.recorder.crawl_id,
            spider=mw.recorder.platform,
            software=software(),
        )
        specs = build_rendered_page(
            page,
            dom=response.body,
            dom_type=f"text/html; charset={getattr(response, 'encoding', None) or 'utf-8'}",
            new_id=mw.sink.new_record_id,
            context=context,
            via=referring_page(request),
            already_archived=self.already_archived,
        )
        captured = mw.sink.record_browser_page(specs)
        if captured.dom_capture_id is not None:
            request.meta[META_DOM_CAPTURE_ID] = captured.dom_capture_id
        return captured.capture_id, captured.record


def archive_browser_response(
    middleware: ArchiveMiddleware, request: Request, response: Response
) -> tuple[int, WrittenRecord] | None:
    """Archive a scrapy-playwright response from what the browser handler collected.

    None when the request was rendered without our handler (no evidence was
    collected): the caller counts it as skipped rather than archive the DOM as
    if a server had sent it.
    """
    page = request.meta.pop(META_RENDERED, None)
    if page is None:
        return None
    archiver = getattr(middleware, "_browser_archiver", None)
    if archiver is None:
        archiver = BrowserArchiver(middleware)
        middleware._browser_archiver = archiver  # type: ignore[attr-defined]
    return archiver.archive(request, response, page)
