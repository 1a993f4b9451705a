"""Honour robots.txt ``Crawl-delay`` per site (Scrapy's robots middleware ignores it).

When a ``/robots.txt`` response passes through, its Crawl-delay for our
User-Agent (capped by ``ADARCHIVE_ROBOTS_CRAWL_DELAY_MAX``) becomes the lower
bound of that site's download-slot delay, for the live slot and for any slot
Scrapy creates later for the host. AutoThrottle is told not to lower it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from protego import Protego
from scrapy.exceptions import NotConfigured
from scrapy.utils.httpobj import urlparse_cached

from crawler.useragent import user_agent_from_settings

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)


class RobotsCrawlDelayMiddleware:
    def __init__(self, crawler: Crawler, max_delay: float) -> None:
        self.crawler = crawler
        self.max_delay = max_delay
        self.user_agent = user_agent_from_settings(crawler.settings)
        self.delays: dict[str, float] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RobotsCrawlDelayMiddleware:
        settings = crawler.settings
        if not settings.getbool("ROBOTSTXT_OBEY") or not settings.getbool(
            "ADARCHIVE_ROBOTS_CRAWL_DELAY"
        ):
            raise NotConfigured("robots.txt Crawl-delay not honoured (robots off or disabled)")
        return cls(crawler, settings.getfloat("ADARCHIVE_ROBOTS_CRAWL_DELAY_MAX"))

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        host = urlparse_cached(request).hostname or ""
        delay = self.delays.get(host)
        if delay is not None:
            request.meta["autothrottle_dont_adjust_delay"] = True
            self._apply(request, delay)

    def process_response(
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Response:
        parsed = urlparse_cached(request)
        if parsed.path != "/robots.txt" or response.status != 200:
            return response
        try:
            text = response.body.decode("utf-8", errors="replace")
            delay = Protego.parse(text).crawl_delay(self.user_agent)
        except Exception:  # a hostile robots.txt must not break the crawl
            logger.warning("could not parse Crawl-delay from %s", request.url)
            return response
        if delay:
            delay = min(float(delay), self.max_delay)
            host = parsed.hostname or ""
            self.delays[host] = delay
            self._apply(request, delay)
            self.crawler.stats.set_value(f"adarchive/crawl_delay/{host}", delay)
            logger.info("robots.txt of %s asks Crawl-delay %.2fs: honoured", host, delay)
        return response

    def _apply(self, request: Request, delay: float) -> None:
        engine = self.crawler.engine
        if engine is None:
            return
        downloader = engine.downloader
        key = downloader.get_slot_key(request)
        settings = downloader.per_slot_settings.setdefault(key, {})
        if settings.get("delay", 0) < delay:
            settings["delay"] = delay
            settings["jitter"] = 0.0
        slot = downloader.slots.get(key)
        if slot is not None and slot.delay < delay:
            slot.delay = delay
            slot.jitter = 0.0
