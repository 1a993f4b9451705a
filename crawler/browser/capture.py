"""Collect the evidence of one browser page while it is open.

:class:`PageCapture` is wired into scrapy-playwright per request: ``on_page``
runs before navigation (route guard, network listeners, cookies), ``finish``
runs after it (actions, screenshot, waiting for bodies still being read). The
result is a :class:`~crawler.archive.browser.RenderedPage`: plain data the
archive middleware turns into WARC records once the page is closed.

Bodies are read as soon as each request finishes: Chromium forgets a body once
the page navigates away (an age gate that reloads the page, for one).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urldefrag

from playwright.async_api import Error as PlaywrightError

from crawler.archive.browser import BrowserExchange, RenderedPage
from crawler.browser.actions import cookie_specs, run_actions
from crawler.browser.guard import BrowserGuard
from crawler.platforms import Action

if TYPE_CHECKING:
    from playwright.async_api import Page, Request, Route, WebSocketRoute
    from scrapy import Request as ScrapyRequest

logger = logging.getLogger(__name__)

SCREENSHOT_HEIGHT_JS = (
    "() => Math.max(document.documentElement.scrollHeight,"
    " document.body ? document.body.scrollHeight : 0)"
)


class PageRefused(RuntimeError):
    """The page cannot be used as evidence (guard not installed, no document captured)."""


class AddressRefused(PageRefused):
    """A response came from an address the SSRF guard refuses (the browser resolved it itself)."""


@dataclass
class CaptureLimits:
    timeout: float = 30.0
    """Seconds for navigation, each action, the screenshot and reading bodies."""
    screenshot: bool = True
    screenshot_max_height: int = 20000
    max_responses: int = 300
    max_body: int = 32 * 1024 * 1024
    max_page_bytes: int = 64 * 1024 * 1024
    """Bodies kept per page in all; later ones are archived head-only."""


@dataclass
class PageCapture:
    """One page's route guard, network log, actions and screenshot."""

    actions: tuple[Action, ...]
    guard: BrowserGuard
    limits: CaptureLimits
    on_refusal: Any = None
    """``on_refusal(kind, url, why)``: report a refused request (stats, log)."""
    exchanges: list[tuple[int, BrowserExchange]] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    unarchived: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    guarded: bool = False
    over_budget: str = ""
    """Why the page was closed for receiving more than its byte budget (decoded)."""
    proxy_refusals: list[Any] = field(default_factory=list)
    """What the egress proxy refused while this page was open."""
    result: RenderedPage | None = None
    _tasks: set[asyncio.Task] = field(default_factory=set)
    _seq: int = 0
    _bytes: int = 0
    _received: int = 0
    _decoded: dict[str, int] = field(default_factory=dict)
    """Decoded bytes received per URL (DevTools): a body too big is never read into memory."""
    _url_of: dict[str, str] = field(default_factory=dict)
    _screenshot: bytes | None = None
    _screenshot_note: str | None = None
    _done_actions: list[str] = field(default_factory=list)

    # -- before navigation ----------------------------------------------------

    async def on_page(self, page: Page, request: ScrapyRequest) -> None:
        """scrapy-playwright's page init callback: guard, listeners, cookies."""
        # scrapy-playwright retries a closed target with a new page: start afresh.
        for task in list(self._tasks):
            task.cancel()
        self.exchanges, self.blocked, self.unarchived, self.problems = [], [], [], []
        self._bytes = self._received = 0
        self._decoded, self._url_of = {}, {}
        self.over_budget = ""
        await self._count_received(page)
        # Registered after scrapy-playwright's own route, so it runs first.
        await page.route("**", self._route)
        await page.route_web_socket("**", self._route_web_socket)
        page.on("requestfinished", self._on_finished)
        page.on("requestfailed", self._on_failed)
        page.on("popup", self._on_popup)
        page.set_default_timeout(self.limits.timeout * 1000)
        cookies = cookie_specs(self.actions, request.url)
        if cookies:
            await page.context.add_cookies(cookies)
        self.guarded = True

    async def _count_received(self, page: Page) -> None:
        """Count every byte the page receives, decoded (DevTools ``Network.dataReceived``).

        A page past ``max_page_bytes`` is closed and fails with the reason, so
        a gzip bomb inside an HTTPS tunnel (opaque to the proxy) or an endless
        stream cannot grow the renderer without bound.
        """
        try:
            session = await page.context.new_cdp_session(page)
            await session.send("Network.enable")
        except PlaywrightError as exc:
            raise PageRefused(f"byte budget not installed: {str(exc).splitlines()[0]}") from exc
        budget = self.limits.max_page_bytes

        def sent(params: dict[str, Any]) -> None:
            url = (params.get("request") or {}).get("url")
            if url:
                self._url_of[str(params.get("requestId"))] = url

        def received(params: dict[str, Any]) -> None:
            length = int(params.get("dataLength") or 0)
            self._received += length
            url = self._url_of.get(str(params.get("requestId")))
            if url is not None:
                self._decoded[url] = self._decoded.get(url, 0) + length
            if self._received > budget and not self.over_budget:
                self.over_budget = f"page received over its {budget} byte budget (decoded): closed"
                self.blocked.append(self.over_budget)
                asyncio.ensure_future(page.close())

        session.on("Network.requestWillBeSent", sent)
        session.on("Network.dataReceived", received)

    def proxy_refused(self, refusal: Any) -> None:
        """The egress proxy refused a connection while this page was open: listed as blocked."""
        self.proxy_refusals.append(refusal)
        self.blocked.append(f"{refusal.target} ({refusal.kind}: browser proxy: {refusal.reason})")

    async def _route(self, route: Route, request: Request) -> None:
        refused = await self.guard.refusal(request.url)
        if refused is None:
            await route.fallback()
            return
        kind, why = refused
        self.blocked.append(f"{request.method} {request.url} ({kind}: {why})")
        if self.on_refusal is not None:
            self.on_refusal(kind, request.url, why)
        await route.abort("blockedbyclient")

    async def _route_web_socket(self, ws: WebSocketRoute) -> None:
        refused = await self.guard.refusal(ws.url.replace("ws", "http", 1))
        if refused is None:
            ws.connect_to_server()
            return
        kind, why = refused
        self.blocked.append(f"WEBSOCKET {ws.url} ({kind}: {why})")
        if self.on_refusal is not None:
            self.on_refusal(kind, ws.url, why)
        await ws.close()

    async def _on_popup(self, popup: Page) -> None:
        self.blocked.append(f"POPUP {popup.url} (closed: pages open no windows)")
        if self.on_refusal is not None:
            self.on_refusal("browser-popup", popup.url, "closed: pages open no windows")
        await popup.close()

    def _on_finished(self, request: Request) -> None:
        self._seq += 1
        if len(self._tasks) + len(self.exchanges) >= self.limits.max_responses:
            self.unarchived.append(
                f"{request.url} (more than {self.limits.max_responses} responses)"
            )
            return
        task = asyncio.ensure_future(self._record(self._seq, request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_failed(self, request: Request) -> None:
        failure = request.failure or "failed"
        if "ERR_BLOCKED_BY_CLIENT" not in failure:  # our own refusals are listed as blocked
            self.unarchived.append(f"{request.method} {request.url} (request failed: {failure})")

    async def _record(self, seq: int, request: Request) -> None:
        try:
            response = await request.response()
            if response is None:
                return
            received_at = datetime.now(UTC)
            body: bytes | None = None
            note = None
            length = await response.header_value("content-length")
            # Content-Length is the compressed size; a gzip body inflates past it,
            # and reading it would copy it whole into the driver and this process.
            decoded = self._decoded.get(request.url, 0)
            if length and length.isdigit() and int(length) > self.limits.max_body:
                note = f"body of {length} bytes over the {self.limits.max_body} byte limit"
            elif decoded > self.limits.max_body:
                note = (
                    f"body of {decoded} bytes (decoded) over the {self.limits.max_body} byte limit"
                )
            elif 300 <= response.status < 400:
                body = b""  # redirects have no body to read
            else:
                try:
                    body = await response.body()
                except PlaywrightError as exc:
                    note = f"body unavailable: {str(exc).splitlines()[0]}"
            if body is not None and len(body) > self.limits.max_body:
                body, note = None, f"body of {len(body)} bytes over the limit"
            if body is not None and self._bytes + len(body) > self.limits.max_page_bytes:
                body, note = None, f"page over its {self.limits.max_page_bytes} byte budget"
            self._bytes += len(body or b"")
            address = await response.server_addr()
            # Through the egress proxy Chromium reports the proxy's address.
            ip = address["ipAddress"] if address and not self.guard.proxied else None
            why = self.guard.address_refusal(ip)
            if why:
                self.problems.append(f"{request.url}: {why}")
                return
            main = False
            try:
                main = (
                    request.is_navigation_request()
                    and request.frame == request.frame.page.main_frame
                )
            except PlaywrightError:  # service-worker requests have no frame
                main = False
            post = request.post_data_buffer or b""
            exchange = BrowserExchange(
                url=request.url,
                method=request.method,
                resource_type=request.resource_type,
                request_headers=_pairs(await request.headers_array()),
                request_body=post,
                status=response.status,
                status_text=response.status_text,
                response_headers=_pairs(await response.headers_array()),
                body=body,
                received_at=received_at,
                ip=ip,
                main_document=main,
                note=note,
            )
            self.exchanges.append((seq, exchange))
        except PlaywrightError as exc:  # the page closed under us
            self.unarchived.append(f"{request.url} (not read: {str(exc).splitlines()[0]})")

    # -- after navigation -------------------------------------------------------

    async def finish(self, page: Page) -> None:
        """A scrapy-playwright page method: actions, screenshot, wait for bodies."""
        if not self.guarded:
            raise PageRefused("the route guard was not installed: the page is not used")
        self._done_actions = await run_actions(page, self.actions, self.limits.timeout)
        if self.limits.screenshot:
            self._screenshot, self._screenshot_note = await self._take_screenshot(page)
        await self._drain()
        self.result = self._rendered(page)

    async def _take_screenshot(self, page: Page) -> tuple[bytes, str]:
        timeout = self.limits.timeout * 1000
        size = page.viewport_size or {"width": 1280, "height": 720}
        height = int(await page.evaluate(SCREENSHOT_HEIGHT_JS) or size["height"])
        cap = self.limits.screenshot_max_height
        if height > cap:
            clip = {"x": 0, "y": 0, "width": size["width"], "height": cap}
            png = await page.screenshot(full_page=True, clip=clip, type="png", timeout=timeout)
            return png, f"full page PNG {size['width']}x{cap} px, cut from {height} px"
        png = await page.screenshot(full_page=True, type="png", timeout=timeout)
        return png, f"full page PNG {size['width']}x{max(height, size['height'])} px"

    async def _drain(self) -> None:
        """Wait (bounded) for bodies still being read."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.limits.timeout
        while self._tasks:
            remaining = deadline - loop.time()
            if remaining <= 0:
                for task in list(self._tasks):
                    task.cancel()
                self.unarchived.append(f"{len(self._tasks)} bodies still loading at the deadline")
                break
            await asyncio.wait(set(self._tasks), timeout=remaining)

    def _rendered(self, page: Page) -> RenderedPage:
        if self.problems:
            raise AddressRefused("; ".join(self.problems))
        exchanges = [exchange for _, exchange in sorted(self.exchanges, key=lambda e: e[0])]
        final = urldefrag(page.url).url
        documents = [i for i, e in enumerate(exchanges) if e.main_document]
        exact = [i for i in documents if urldefrag(exchanges[i].url).url == final]
        page_index = (exact or documents or [None])[-1]
        if page_index is None:
            raise PageRefused(f"no document response of {final} was captured")
        context = page.context
        browser = context.browser
        size = page.viewport_size or {}
        return RenderedPage(
            url=page.url,
            exchanges=exchanges,
            page_index=page_index,
            taken_at=datetime.now(UTC),
            screenshot=self._screenshot,
            screenshot_note=self._screenshot_note,
            actions=self._done_actions,
            blocked=self.blocked,
            unarchived=self.unarchived,
            browser=f"{browser.browser_type.name}/{browser.version}" if browser else "",
            viewport=f"{size.get('width')}x{size.get('height')}" if size else "",
        )


def _pairs(headers: list[dict[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((h["name"], h["value"]) for h in headers)
