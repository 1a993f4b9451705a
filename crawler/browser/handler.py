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
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from playwright._impl._errors import TargetClosedError  # as scrapy-playwright catches it
from scrapy.exceptions import IgnoreRequest
from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler
from scrapy_playwright.page import PageMethod

from crawler.archive.browser import META_RENDERED
from crawler.browser.capture import AddressRefused, CaptureLimits, PageCapture
from crawler.browser.features import with_quiet_features
from crawler.browser.guard import BrowserGuard
from crawler.browser.launch import page_timeout, proxy_args
from crawler.browser.memory import MemoryKill, MemoryWatchdog
from crawler.browser.proxy import (
    EgressProxy,
    ProxyPolicy,
    ProxyRefusal,
    Resolver,
    static_resolver,
    system_resolve,
)

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

META_RENDER = "adarchive_render"
"""Request meta key set by the spider: the page's role (``listing`` / ``detail``)."""
_PER_REQUEST_KEYS = ("playwright_page_init_callback", "playwright_page_methods")
META_GENERATION = "adarchive_memory_generation"
"""The memory watchdog's generation when the page started (a later kill fails the page)."""
RESTART_WAIT_SECONDS = 10.0


class BrowserPageError(OSError):
    """A browser page failed (crashed, timed out, refused); retried like a network error."""


class BrowserKilled(Exception):
    """The memory watchdog killed the browser while this page was open (not retried)."""


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
                "ADARCHIVE_BROWSER_PROXY_ENABLED",
                "ADARCHIVE_BROWSER_MEMORY_CEILING",
                "ROBOTSTXT_OBEY",
            )
        ]
        self.ssrf = settings.getbool("ADARCHIVE_SSRF_GUARD_ENABLED")
        from crawler.guard.ssrf_middleware import allow_list_from_settings
        from crawler.useragent import user_agent_from_settings

        self.allow = allow_list_from_settings(settings)
        self.user_agent = user_agent_from_settings(settings)
        self._pages_since_restart = 0
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._restart_lock = asyncio.Lock()
        # Issue 14: the browser's only way out is a proxy per platform context
        # (crawler.browser.proxy); a launch-level proxy that refuses everything
        # catches whatever Chromium sends outside a context.
        self.proxy_enabled = settings.getbool("ADARCHIVE_BROWSER_PROXY_ENABLED")
        hosts = settings.getdict("ADARCHIVE_BROWSER_PROXY_HOSTS") or {}
        self.resolve: Resolver = static_resolver(hosts, system_resolve) if hosts else system_resolve
        self._proxies: dict[str, EgressProxy] = {}
        self._sink: EgressProxy | None = None
        self.max_body = settings.getint("DOWNLOAD_MAXSIZE")
        ceiling = settings.getint("ADARCHIVE_BROWSER_MEMORY_CEILING")
        self.watchdog = MemoryWatchdog(ceiling, self._memory_killed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._memory_restart: asyncio.Task | None = None
        self.data_dir = Path(settings.get("ADARCHIVE_DATA_DIR"))
        self._browser_home: str | None = None

    async def _download_request(self, request: Request, spider: Spider | None = None) -> Response:
        role = request.meta.get(META_RENDER)
        if role is None:
            return await super()._download_request(request, spider)
        spider = spider or self._crawler.spider
        capture = self._capture_for(request, spider, role)
        proxy = await self._proxy_for(request, spider) if self.proxy_enabled else None
        if proxy is not None:
            request.meta["playwright_context_kwargs"]["proxy"] = {"server": proxy.url}
            proxy.listeners.add(capture.proxy_refused)
        if self._memory_restart is not None:  # the browser was just killed: let it go first
            await self._memory_restart
        generation = self.watchdog.generation
        request.meta[META_GENERATION] = generation
        await self._page_started()
        try:
            response = await super()._download_request(request, spider)
            if capture.result is None:
                raise BrowserPageError("the page was read without its evidence")
        except AddressRefused as exc:  # not retried: the same name would answer the same
            self._refused("ssrf", request.url, str(exc))
            raise IgnoreRequest(f"{exc}: {request.url}") from exc
        except Exception as exc:
            kill = self.watchdog.last
            if self.watchdog.generation != generation and kill is not None:
                # not retried: it would grow again
                self._refused("browser-memory", request.url, kill.reason)
                raise IgnoreRequest(f"{kill.reason}: {request.url}") from exc
            if capture.over_budget:
                self._refused("browser-budget", request.url, capture.over_budget)
                raise IgnoreRequest(f"{capture.over_budget}: {request.url}") from exc
            navigation = _refused_navigation(capture, exc)
            if navigation:  # the document (or a hop of its redirects) was refused: not retried
                raise IgnoreRequest(f"{navigation}: {request.url}") from exc
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
            if proxy is not None:
                proxy.listeners.discard(capture.proxy_refused)
            for key in _PER_REQUEST_KEYS:  # callables never stay in meta (queues serialise it)
                request.meta.pop(key, None)
            request.meta.pop(META_GENERATION, None)
            self._page_done()
        capture.result.user_agent = self.user_agent
        capture.result.settings = self.page_settings
        request.meta[META_RENDERED] = capture.result
        self.stats.inc_value("adarchive/browser/pages")
        return response

    async def _download_request_with_retry(self, request: Request, spider: Spider) -> Response:
        """scrapy-playwright retries a page whose browser died; not when the watchdog killed it."""
        generation = request.meta.get(META_GENERATION)
        if generation is not None and self.watchdog.generation != generation:
            raise BrowserKilled(self.watchdog.last.reason if self.watchdog.last else "killed")
        try:
            return await super()._download_request_with_retry(request=request, spider=spider)
        except TargetClosedError as exc:
            if generation is not None and self.watchdog.generation != generation:
                raise BrowserKilled(str(exc)) from exc
            raise

    def _capture_for(self, request: Request, spider: Spider, role: str) -> PageCapture:
        definition = spider.definition  # type: ignore[attr-defined]
        guard = BrowserGuard(
            allowed_hosts=tuple(spider.allowed_hosts),  # type: ignore[attr-defined]
            allow=self.allow,
            ssrf=self.ssrf,
            robots=self._robots_allowed if self.obey_robots else None,
            proxied=self.proxy_enabled,
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
        request.meta["playwright_context_kwargs"] = dict(request.meta["playwright_context_kwargs"])
        request.meta["playwright_page_init_callback"] = capture.on_page
        request.meta["playwright_page_methods"] = [PageMethod(capture.finish)]
        return capture

    # -- egress proxy and memory ceiling (issue 14) ------------------------------

    async def _proxy_for(self, request: Request, spider: Spider) -> EgressProxy:
        """The platform context's proxy, started on first use; the page's port is allowed."""
        name = request.meta["playwright_context"]
        port = urlsplit(request.url).port or (443 if request.url.startswith("https") else 80)
        proxy = self._proxies.get(name)
        if proxy is None:
            starts = [*getattr(spider, "start_urls", ()), request.url]
            ports = {urlsplit(u).port or (443 if u.startswith("https") else 80) for u in starts}
            policy = ProxyPolicy(
                allowed_hosts=tuple(spider.allowed_hosts),  # type: ignore[attr-defined]
                ports=frozenset(ports),
                allow=self.allow,
                ssrf=self.ssrf,
                max_body=self.max_body,
                max_tunnel=self.limits.max_page_bytes,
            )
            proxy = EgressProxy(policy, self.resolve)
            proxy.listeners.add(self._proxy_refused)
            await proxy.start()
            self._proxies[name] = proxy
        elif port not in proxy.policy.ports:
            proxy.policy.ports = proxy.policy.ports | {port}
        return proxy

    def _proxy_refused(self, refusal: ProxyRefusal) -> None:
        self._refused(refusal.kind, refusal.target, f"browser proxy: {refusal.reason}")

    def _background_refused(self, refusal: ProxyRefusal) -> None:
        """Chromium's own traffic (outside any page's context) is refused whole, and counted apart."""
        self._refused("browser-background", refusal.target, f"browser proxy: {refusal.reason}")

    async def _maybe_launch_browser(self) -> None:
        """Launch with the refusing sink proxy and the flags that keep Chromium inside it."""
        if self._browser_home is None:
            self.config.launch_options["env"] = self._browser_env()
        if self.proxy_enabled and self._sink is None:
            self._sink = EgressProxy(ProxyPolicy(allowed_hosts=(), ports=frozenset()))
            self._sink.listeners.add(self._background_refused)
            await self._sink.start()
            options = self.config.launch_options
            options["proxy"] = {"server": self._sink.url}
            options["args"] = [*options.get("args", []), *proxy_args(self._sink.address[0])]
        options = self.config.launch_options
        options["args"] = with_quiet_features(
            options.get("args", []), options.get("ignore_default_args")
        )
        logger.info("browser switches: %s", " ".join(options["args"]))
        await super()._maybe_launch_browser()
        # The memory watchdog starts once a browser runs, knowing whose browser it may kill.
        self._loop = asyncio.get_running_loop()
        self.watchdog.start(self._driver_pid())

    def _memory_killed(self, kill: MemoryKill) -> None:
        """From the watchdog's thread, after it killed the browser: the rest on the loop."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._after_memory_kill, kill)

    def _after_memory_kill(self, kill: MemoryKill) -> None:
        """Record the reason; forget the dead browser so the next page launches a new one."""
        logger.warning("%s", kill.reason)
        logger.info("memory watchdog: last readings %s MiB", [r >> 20 for r in kill.recent])
        self.stats.inc_value("adarchive/browser/memory_restarts")
        self.stats.set_value("adarchive/browser/memory_reason", kill.reason)
        browser = getattr(self, "browser", None)
        if browser is not None:
            self._memory_restart = asyncio.ensure_future(self._forget_browser(browser))

    async def _forget_browser(self, browser: Any) -> None:
        """Wait for scrapy-playwright to notice the dead browser, else forget it ourselves."""
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + RESTART_WAIT_SECONDS
            while getattr(self, "browser", None) is browser and loop.time() < deadline:
                await asyncio.sleep(0.05)
            if getattr(self, "browser", None) is browser:
                self.context_wrappers.clear()
                del self.browser
            self._pages_since_restart = 0
            self.stats.inc_value("adarchive/browser/restarts")
        finally:
            self._memory_restart = None

    def _browser_env(self) -> dict[str, str]:
        """The browser's environment: its home (profile cache, crash reports, dconf) in a
        folder of the data directory that the crawl removes at the end, so a crawl writes
        nothing outside its data directory."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        home = tempfile.mkdtemp(prefix=".browser-home-", dir=self.data_dir)
        self._browser_home = home
        return {
            **os.environ,
            "HOME": home,
            "XDG_CONFIG_HOME": str(Path(home) / ".config"),
            "XDG_CACHE_HOME": str(Path(home) / ".cache"),
        }

    def _driver_pid(self) -> int | None:
        """The pid of this handler's Playwright driver (node), the parent of its browser.

        Read from Playwright's private transport; None (the watchdog then kills
        any browser in the crawl's tree) if that ever moves.
        """
        playwright = getattr(getattr(self, "browser_provider", None), "playwright", None)
        impl = getattr(playwright, "_impl_obj", None)
        transport = getattr(getattr(impl, "_connection", None), "_transport", None)
        proc = getattr(transport, "_proc", None)
        pid = getattr(proc, "pid", None)
        return pid if isinstance(pid, int) else None

    async def _close(self) -> None:
        self.watchdog.stop()
        await super()._close()
        for proxy in [*self._proxies.values(), *([self._sink] if self._sink else [])]:
            await proxy.close()
            if proxy is not self._sink:
                logger.info(
                    "browser proxy connected to: %s", proxy.connection_summary() or "nothing"
                )
        if self._browser_home is not None:
            shutil.rmtree(self._browser_home, ignore_errors=True)
        peak = self.watchdog.peak
        if peak:
            self.stats.set_value("adarchive/browser/peak_tree_pss", peak)

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


# How Chromium reports a navigation the egress proxy refused (no response, or no tunnel).
_PROXY_FAILURES = (
    "ERR_EMPTY_RESPONSE",
    "ERR_TUNNEL_CONNECTION_FAILED",
    "ERR_PROXY_CONNECTION_FAILED",
)


def _refused_navigation(capture: PageCapture, exc: Exception) -> str:
    """The proxy's reason when the page's own navigation failed because the proxy refused it."""
    text = str(exc)
    if not capture.proxy_refusals or not any(code in text for code in _PROXY_FAILURES):
        return ""
    refusal = capture.proxy_refusals[0]
    return f"navigation refused by the browser proxy ({refusal.kind}: {refusal.reason})"
