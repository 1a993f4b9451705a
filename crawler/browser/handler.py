"""scrapy-playwright's download handler, with our evidence capture, guards and limits.

Requests the spider marks ``meta["adarchive_render"] = "listing" | "detail"``
are rendered with the definition's actions, the allowed-host rule and the SSRF
guard on every browser request, and a :class:`~crawler.browser.capture.PageCapture`
whose result the archive middleware writes. Every other request (robots.txt,
images) goes through Scrapy's HTTP handler as usual.

Limits: pages per platform at once (one browser context per platform,
``ADARCHIVE_BROWSER_MAX_PAGES``), a page timeout, and a browser restart after
``ADARCHIVE_BROWSER_RESTART_AFTER`` pages (long-lived browsers grow). A page
that fails (crash, timeout, refused) raises :class:`BrowserPageError`, which
Scrapy's retry middleware retries and, in the end, logs as an error.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy.exceptions import IgnoreRequest
from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler
from scrapy_playwright.page import PageMethod

from crawler.archive.browser import META_RENDERED
from crawler.browser.capture import AddressRefused, CaptureLimits, PageCapture
from crawler.browser.guard import BrowserGuard
from crawler.browser.launch import page_timeout

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

META_RENDER = "adarchive_render"
"""Request meta key set by the spider: the page's role (``listing`` / ``detail``)."""
_PER_REQUEST_KEYS = ("playwright_page_init_callback", "playwright_page_methods")
RESTART_WAIT_SECONDS = 10.0


class BrowserPageError(OSError):
    """A browser page failed (crashed, timed out, refused); retried like a network error."""


class BrowserDownloadHandler(ScrapyPlaywrightDownloadHandler):
    """Renders definition pages in Chromium and collects their evidence."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        settings = crawler.settings
        self.crawler = crawler
        self.limits = CaptureLimits(
            timeout=page_timeout(settings),
            screenshot=settings.getbool("ADARCHIVE_BROWSER_SCREENSHOT"),
            screenshot_max_height=settings.getint("ADARCHIVE_BROWSER_SCREENSHOT_MAX_HEIGHT"),
            max_responses=settings.getint("ADARCHIVE_BROWSER_MAX_RESPONSES"),
            max_body=settings.getint("DOWNLOAD_MAXSIZE"),
            max_page_bytes=settings.getint("ADARCHIVE_BROWSER_MAX_PAGE_BYTES"),
        )
        self.restart_after = settings.getint("ADARCHIVE_BROWSER_RESTART_AFTER")
        self.obey_robots = settings.getbool("ROBOTSTXT_OBEY")
        self.page_settings = [
            f"{name}={settings.get(name)}"
            for name in (
                "ADARCHIVE_BROWSER_PAGE_TIMEOUT",
                "ADARCHIVE_BROWSER_SCREENSHOT",
                "ADARCHIVE_BROWSER_SCREENSHOT_MAX_HEIGHT",
                "ADARCHIVE_BROWSER_MAX_RESPONSES",
                "ADARCHIVE_BROWSER_MAX_PAGE_BYTES",
                "ADARCHIVE_BROWSER_MAX_PAGES",
                "ADARCHIVE_BROWSER_RESTART_AFTER",
                "ADARCHIVE_SSRF_GUARD_ENABLED",
                "ROBOTSTXT_OBEY",
            )
        ]
        self.ssrf = settings.getbool("ADARCHIVE_SSRF_GUARD_ENABLED")
        from crawler.guard.middleware import allow_list_from_settings
        from crawler.useragent import user_agent_from_settings

        self.allow = allow_list_from_settings(settings)
        self.user_agent = user_agent_from_settings(settings)
        self._pages_since_restart = 0
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._restart_lock = asyncio.Lock()

    async def _download_request(self, request: Request, spider: Spider | None = None) -> Response:
        role = request.meta.get(META_RENDER)
        if role is None:
            return await super()._download_request(request, spider)
        spider = spider or self._crawler.spider
        capture = self._capture_for(request, spider, role)
        await self._page_started()
        try:
            response = await super()._download_request(request, spider)
            if capture.result is None:
                raise BrowserPageError("the page was read without its evidence")
        except AddressRefused as exc:  # not retried: the same name would answer the same
            self._refused("ssrf", request.url, str(exc))
            raise IgnoreRequest(f"{exc}: {request.url}") from exc
        except Exception as exc:
            self.stats.inc_value("adarchive/browser/pages_failed")
            reason = " ".join(str(exc).split())[:300] or type(exc).__name__
            logger.warning(
                "browser page failed: %s: %s: %s (retried up to RETRY_TIMES, then logged as an error)",
                request.url,
                type(exc).__name__,
                reason,
            )
            raise BrowserPageError(f"browser page {request.url} failed: {reason}") from exc
        finally:
            for key in _PER_REQUEST_KEYS:  # callables never stay in meta (queues serialise it)
                request.meta.pop(key, None)
            self._page_done()
        capture.result.user_agent = self.user_agent
        capture.result.settings = self.page_settings
        request.meta[META_RENDERED] = capture.result
        self.stats.inc_value("adarchive/browser/pages")
        return response

    def _capture_for(self, request: Request, spider: Spider, role: str) -> PageCapture:
        definition = spider.definition  # type: ignore[attr-defined]
        guard = BrowserGuard(
            allowed_hosts=tuple(spider.allowed_hosts),  # type: ignore[attr-defined]
            allow=self.allow,
            ssrf=self.ssrf,
            robots=self._robots_allowed if self.obey_robots else None,
        )
        capture = PageCapture(
            actions=definition.actions_for(role),
            guard=guard,
            limits=self.limits,
            on_refusal=self._refused,
        )
        request.meta["playwright_context"] = f"adarchive-{definition.name}"
        request.meta.setdefault(
            "playwright_context_kwargs",
            # Service workers would fetch outside page.route: blocked.
            {"user_agent": self.user_agent, "service_workers": "block"},
        )
        request.meta["playwright_page_init_callback"] = capture.on_page
        request.meta["playwright_page_methods"] = [PageMethod(capture.finish)]
        return capture

    def _robots_allowed(self, url: str) -> bool:
        """robots.txt as Scrapy's robots middleware parsed it for the page's own site.

        Browser sub-requests obey the same rules as Scrapy's requests. Reads the
        middleware's parsers (private in Scrapy); a site whose robots.txt Scrapy
        has not read is allowed, as the page itself passed the middleware.
        """
        parser = self._robots_parser(urlsplit(url).netloc)
        if parser is None:
            return True
        try:
            return bool(parser.allowed(url, self.user_agent))
        except Exception:  # a parser that cannot decide does not block the page
            return True

    def _robots_parser(self, netloc: str) -> Any:
        from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware

        engine = getattr(self.crawler, "engine", None)
        chain = getattr(
            getattr(getattr(engine, "downloader", None), "middleware", None), "middlewares", ()
        )
        for middleware in chain:
            if isinstance(middleware, RobotsTxtMiddleware):
                parser = getattr(middleware, "_parsers", {}).get(netloc)
                return parser if hasattr(parser, "allowed") else None
        return None

    def _refused(self, kind: str, url: str, why: str) -> None:
        from crawler.politeness.refusals import note_refusal

        note_refusal(self.crawler, kind, url, why)

    # -- browser restarts -------------------------------------------------------

    async def _page_started(self) -> None:
        limit = self.restart_after
        if limit and self._pages_since_restart >= limit:
            async with self._restart_lock:
                if self._pages_since_restart >= limit:
                    await self._idle.wait()
                    await self._restart_browser()
                    self._pages_since_restart = 0
        self._pages_since_restart += 1
        self._in_flight += 1
        self._idle.clear()

    def _page_done(self) -> None:
        self._in_flight -= 1
        if self._in_flight == 0:
            self._idle.set()

    async def _restart_browser(self) -> None:
        """Close the browser; scrapy-playwright launches a fresh one for the next page."""
        browser: Any = getattr(self, "browser", None)
        if browser is None:
            return
        logger.info("restarting the browser after %d pages", self._pages_since_restart)
        await browser.close()
        # scrapy-playwright forgets the browser in its own disconnect callback.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RESTART_WAIT_SECONDS
        while getattr(self, "browser", None) is browser and loop.time() < deadline:
            await asyncio.sleep(0.01)
        if getattr(self, "browser", None) is browser:
            self.context_wrappers.clear()
            del self.browser
        self.stats.inc_value("adarchive/browser/restarts")
