"""Downloader middleware: refuse requests (and redirect hops) to non-public addresses.

Order 30, before the offsite (50) and robots.txt (100) middlewares, so every
request is checked before anything is sent, robots.txt fetches included, and
the refusal is counted under its own reason. A redirect comes back to the
scheduler as a new request and passes here again, so every hop is checked.
Names are resolved here (in a thread, cached briefly) and resolved again by
:class:`crawler.guard.resolver.GuardedResolver` when the connection is made.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.threads import deferToThread

from crawler.guard.address import (
    AddressDecision,
    AllowList,
    check_host,
    literal_address,
    parse_allow_list,
    refusal,
)
from crawler.politeness.refusals import note_refusal

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

CACHE_SECONDS = 30.0


def allow_list_from_settings(settings: object) -> AllowList:
    value = settings.get("ADARCHIVE_ALLOWED_ADDRESSES")  # type: ignore[attr-defined]
    try:
        return parse_allow_list(value)
    except ValueError as exc:
        raise ValueError(f"ADARCHIVE_ALLOWED_ADDRESSES: {exc}") from None


class SsrfGuardMiddleware:
    """Refuses any request whose host is, or resolves to, a refused address."""

    def __init__(self, crawler: Crawler, allow: AllowList) -> None:
        self.crawler = crawler
        self.allow = allow
        self._cache: dict[str, tuple[float, list[AddressDecision]]] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SsrfGuardMiddleware:
        if not crawler.settings.getbool("ADARCHIVE_SSRF_GUARD_ENABLED"):
            raise NotConfigured("ADARCHIVE_SSRF_GUARD_ENABLED is off")
        allow = allow_list_from_settings(crawler.settings)
        if allow:
            logger.info("SSRF guard: non-public addresses allowed only in %s", allow.text)
        return cls(crawler, allow)

    async def process_request(self, request: Request, spider: Spider | None = None) -> None:
        parsed = urlparse_cached(request)
        if parsed.scheme not in ("http", "https"):
            return None  # data:, file: etc. are for Scrapy's own handlers to refuse
        host = (parsed.hostname or "").lower()
        decisions = await self._decide(host)
        refused = refusal(host, decisions)
        if refused is None:
            return None
        hop = len(request.meta.get("redirect_urls") or [])
        where = f" (redirect hop {hop})" if hop else ""
        note_refusal(self.crawler, "ssrf", request.url, f"{refused}{where}", detail=refused.reason)
        request.meta["adarchive_refused"] = (
            "ssrf"  # why a start URL was refused (crawler/health.py)
        )
        raise IgnoreRequest(f"{refused}{where}: {request.url}")

    async def _decide(self, host: str) -> list[AddressDecision]:
        if literal_address(host) is not None:
            return check_host(host, self.allow)
        now = time.monotonic()
        cached = self._cache.get(host)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        decisions = await maybe_deferred_to_future(deferToThread(check_host, host, self.allow))
        self._cache[host] = (now, decisions)
        return decisions
