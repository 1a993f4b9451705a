"""Per-platform crawl budgets: pages, listing pages, depth, duration, hosts, query variants, proxy.

A hostile platform can offer endless pages (calendars, pagination, session
ids in query strings); a budget makes every crawl end by itself. Budgets come
from ``ADARCHIVE_BUDGETS`` (``{"<platform>" | "*": {...}}``, platform entries
over ``"*"``) over the flat ``ADARCHIVE_MAX_*`` / ``ADARCHIVE_PROXY`` settings
that ``adarchive crawl --max-depth/--max-seconds/--proxy`` set. Every request
a budget stops is a refusal with its reason; the crawl ends with Scrapy's
usual reasons (``closespider_pagecount``, ``closespider_timeout``).

The trap budgets (listing pages, depth, query variants) have non-zero
defaults (crawler/settings.py), so a platform that offers endless pages stops
by itself; 0 turns one off. Query variants are counted on every page but
detail pages and images, whose query strings are their identity
(``viewad.php?id=N``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.asyncio import call_later
from scrapy.utils.defer import deferred_from_coro
from scrapy.utils.httpobj import urlparse_cached

from crawler.crawlsettings import redact_proxy
from crawler.platforms import host_allowed
from crawler.politeness.refusals import note_refusal, refuse_queued

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

BUDGET_KEYS = (
    "max_pages",
    "max_depth",
    "max_seconds",
    "allowed_hosts",
    "proxy",
    "max_query_variants",
    "max_listing_pages",
)
# Roles whose query string names the thing itself: not counted as variants of a path.
IDENTITY_ROLES = ("detail", "image")


@dataclass(frozen=True)
class Budget:
    """Limits for one platform's crawl; 0 / empty means no limit."""

    max_pages: int = 0
    max_depth: int = 0
    max_seconds: float = 0.0
    allowed_hosts: tuple[str, ...] = ()
    proxy: str | None = None
    max_query_variants: int = 0
    """Distinct query strings fetched per host and path (endless session-id traps)."""
    max_listing_pages: int = 0
    """Listing pages requested per crawl (endless pagination)."""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def describe(self) -> str:
        """One line for warcinfo and logs; proxy credentials only as a digest."""
        parts = [
            f"max_pages={self.max_pages or 'none'}",
            f"max_depth={self.max_depth or 'none'}",
            f"max_seconds={self.max_seconds or 'none'}",
            f"max_query_variants={self.max_query_variants or 'none'}",
            f"max_listing_pages={self.max_listing_pages or 'none'}",
            f"allowed_hosts={','.join(self.allowed_hosts) or 'definition'}",
            f"proxy={redact_proxy(self.proxy) if self.proxy else 'none'}",
        ]
        return " ".join(parts)

    def as_record(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("extra")
        data["allowed_hosts"] = list(self.allowed_hosts)
        data["proxy"] = redact_proxy(self.proxy) if self.proxy else None
        return data


def _mapping(value: Any) -> dict[str, Any]:
    if not value:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"ADARCHIVE_BUDGETS is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError("ADARCHIVE_BUDGETS must map platform names (or '*') to tables")
    return dict(value)


def budget_for(settings: Any, platform: str) -> Budget:
    """The budget of ``platform``: flat settings, then ``"*"``, then the platform's entry."""
    merged: dict[str, Any] = {
        "max_pages": settings.getint("CLOSESPIDER_PAGECOUNT"),
        "max_depth": settings.getint("ADARCHIVE_MAX_DEPTH"),
        "max_seconds": settings.getfloat("ADARCHIVE_MAX_SECONDS"),
        "allowed_hosts": [],
        "proxy": settings.get("ADARCHIVE_PROXY") or None,
        "max_query_variants": settings.getint("ADARCHIVE_MAX_QUERY_VARIANTS"),
        "max_listing_pages": settings.getint("ADARCHIVE_MAX_LISTING_PAGES"),
    }
    table = _mapping(settings.get("ADARCHIVE_BUDGETS"))
    for key in ("*", platform):
        entry = table.get(key) or {}
        if not isinstance(entry, dict):
            raise ValueError(f"ADARCHIVE_BUDGETS[{key!r}] must be a table")
        unknown = set(entry) - set(BUDGET_KEYS)
        if unknown:
            raise ValueError(
                f"ADARCHIVE_BUDGETS[{key!r}]: unknown key {sorted(unknown)[0]!r} "
                f"(allowed: {', '.join(BUDGET_KEYS)})"
            )
        merged.update(entry)
    hosts = merged["allowed_hosts"]
    if isinstance(hosts, str):
        hosts = [h for h in hosts.replace(",", " ").split() if h]
    return Budget(
        max_pages=int(merged["max_pages"] or 0),
        max_depth=int(merged["max_depth"] or 0),
        max_seconds=float(merged["max_seconds"] or 0),
        allowed_hosts=tuple(str(h).lower() for h in hosts),
        proxy=merged["proxy"] or None,
        max_query_variants=int(merged["max_query_variants"] or 0),
        max_listing_pages=int(merged["max_listing_pages"] or 0),
    )


class BudgetMiddleware:
    """Order 40: enforces one platform's budget on every request and response."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.budget = Budget()
        self.pages = 0
        self.listing_pages = 0
        self.variants: dict[tuple[str, str], set[str]] = {}
        self._closing: str | None = None
        self._timer: Any = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BudgetMiddleware:
        mw = cls(crawler)
        crawler.signals.connect(mw.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(mw.spider_closed, signal=signals.spider_closed)
        # Every response off the network counts (redirects and 429s included),
        # not only those that reach the spider.
        crawler.signals.connect(mw.response_downloaded, signal=signals.response_downloaded)
        return mw

    def spider_opened(self, spider: Spider) -> None:
        self.budget = budget_for(self.crawler.settings, spider.name)
        self.crawler.stats.set_value("adarchive/budget", self.budget.describe())
        logger.info("%s budget: %s", spider.name, self.budget.describe())
        if self.budget.max_seconds:
            self._timer = call_later(self.budget.max_seconds, self._close, "closespider_timeout")

    def spider_closed(self, spider: Spider) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        budget = self.budget
        if self._closing:
            self._refuse(self._closing, request, "the crawl's budget is spent")
        parsed = urlparse_cached(request)
        host = (parsed.hostname or "").lower()
        if budget.allowed_hosts and not host_allowed(host, budget.allowed_hosts):
            self._refuse("budget_host", request, f"{host} is not among the budget's hosts")
        depth = int(request.meta.get("depth", 0) or 0)
        if budget.max_depth and depth > budget.max_depth:
            self._refuse("budget_depth", request, f"depth {depth} > {budget.max_depth}")
        role = request.meta.get("adarchive_role")
        if budget.max_listing_pages and role == "listing" and _first_attempt(request):
            if self.listing_pages >= budget.max_listing_pages:
                self._refuse(
                    "budget_listing_pages",
                    request,
                    f"{self.listing_pages} listing pages already requested",
                )
            self.listing_pages += 1
        if budget.max_query_variants and parsed.query and role not in IDENTITY_ROLES:
            seen = self.variants.setdefault((host, parsed.path), set())
            if parsed.query not in seen:
                if len(seen) >= budget.max_query_variants:
                    self._refuse(
                        "query_variants",
                        request,
                        f"{len(seen)} query variants of {parsed.path} already fetched",
                    )
                seen.add(parsed.query)
        if budget.proxy and "proxy" not in request.meta:
            request.meta["proxy"] = budget.proxy

    def response_downloaded(self, response: Response, request: Request, spider: Spider) -> None:
        self.pages += 1
        if self.budget.max_pages and self.pages >= self.budget.max_pages:
            self._close("closespider_pagecount")

    def _refuse(self, kind: str, request: Request, why: str) -> None:
        note_refusal(self.crawler, kind, request.url, why)
        raise IgnoreRequest(f"{kind}: {why}")

    def _close(self, reason: str) -> None:
        if self._closing or self.crawler.engine is None:
            return
        kind = "budget_pages" if reason == "closespider_pagecount" else "budget_time"
        self._closing = kind
        logger.info("budget reached (%s): closing the crawl", reason)
        self.crawler.stats.set_value("adarchive/budget_reached", reason)
        deferred_from_coro(self.crawler.engine.close_spider_async(reason=reason))
        refuse_queued(self.crawler, kind, "the crawl's budget is spent")


def _first_attempt(request: Request) -> bool:
    """Not a redirect hop, a retry or a backoff retry of a request already counted."""
    meta = request.meta
    return not (
        meta.get("redirect_urls")
        or meta.get("retry_times")
        or meta.get("adarchive_backoff_attempts")
    )
