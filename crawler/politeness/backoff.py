"""Honour 429/503 with ``Retry-After``: pause the whole site, retry, give up a site that keeps refusing.

Order 560: in the response direction it runs before Scrapy's RetryMiddleware
(550), whose ``RETRY_HTTP_CODES`` no longer list 429 and 503 (see settings),
so these answers are handled here only. A refusal pauses every request to
that host (they wait here, before reaching the download slot) for the
backoff delay; after ``ADARCHIVE_BACKOFF_MAX_REFUSALS`` refusals in a row,
or a ``Retry-After`` longer than ``ADARCHIVE_BACKOFF_MAX_RETRY_AFTER``, the
site is given up for the rest of the crawl and its remaining requests are
refused without being sent.

The pause is decided when the refusal comes off the network (Scrapy's
``response_downloaded`` signal, sent before the download slot takes its next
request): the slot's next allowed send time moves past the pause there, so
the slot itself cannot send the next request early, however late the
response's middleware chain runs on a busy machine.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.utils.httpobj import urlparse_cached

from crawler.politeness.refusals import note_refusal, refuse_queued
from crawler.politeness.retry_after import backoff_delay, parse_retry_after

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

REFUSING_STATUSES = (429, 503)
META_ATTEMPTS = "adarchive_backoff_attempts"
META_NOTED = "adarchive_backoff_noted"
STEP = 0.2


@dataclass
class HostState:
    refusals_in_row: int = 0
    paused_until: float = 0.0
    given_up: str | None = None


class BackoffMiddleware:
    def __init__(
        self,
        crawler: Crawler,
        base: float,
        cap: float,
        max_refusals: int,
        max_retries: int,
        max_retry_after: float,
    ) -> None:
        self.crawler = crawler
        self.base = base
        self.cap = cap
        self.max_refusals = max_refusals
        self.max_retries = max_retries
        self.max_retry_after = max_retry_after
        self.hosts: dict[str, HostState] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BackoffMiddleware:
        s = crawler.settings
        if not s.getbool("ADARCHIVE_BACKOFF_ENABLED"):
            raise NotConfigured("ADARCHIVE_BACKOFF_ENABLED is off")
        mw = cls(
            crawler,
            base=s.getfloat("ADARCHIVE_BACKOFF_BASE"),
            cap=s.getfloat("ADARCHIVE_BACKOFF_MAX"),
            max_refusals=s.getint("ADARCHIVE_BACKOFF_MAX_REFUSALS"),
            max_retries=s.getint("ADARCHIVE_BACKOFF_MAX_RETRIES"),
            max_retry_after=s.getfloat("ADARCHIVE_BACKOFF_MAX_RETRY_AFTER"),
        )
        crawler.signals.connect(mw.response_downloaded, signal=signals.response_downloaded)
        return mw

    def response_downloaded(self, response: Response, request: Request, spider: Spider) -> None:
        """Pause the site the moment a refusal arrives, before the slot sends again."""
        if response.status in REFUSING_STATUSES and not request.meta.get(META_NOTED):
            self._note_refusal(request, response)
            request.meta[META_NOTED] = True

    def _host(self, request: Request) -> str:
        return (urlparse_cached(request).hostname or "").lower()

    async def process_request(self, request: Request, spider: Spider | None = None) -> None:
        host = self._host(request)
        state = self.hosts.get(host)
        if state is None:
            return
        if state.given_up:
            note_refusal(self.crawler, "site_given_up", request.url, state.given_up)
            raise IgnoreRequest(f"site {host} given up: {state.given_up}")
        # Wait out the pause in small steps, so a closing crawl is not held up.
        while (remaining := state.paused_until - time.monotonic()) > 0:
            if _closing(self.crawler):
                raise IgnoreRequest(f"crawl closing while {host} is paused")
            await asyncio.sleep(min(STEP, remaining))
        if state.given_up:
            note_refusal(self.crawler, "site_given_up", request.url, state.given_up)
            raise IgnoreRequest(f"site {host} given up: {state.given_up}")

    def process_response(
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Request | Response:
        host = self._host(request)
        if response.status not in REFUSING_STATUSES:
            if response.status < 400 and host in self.hosts:
                self.hosts[host].refusals_in_row = 0
            return response
        # Normally noted already by response_downloaded; otherwise (a response that
        # did not come off the network here) now.
        if not request.meta.pop(META_NOTED, False):
            self._note_refusal(request, response)
        state = self.hosts[host]
        attempts = int(request.meta.get(META_ATTEMPTS, 0)) + 1
        if state.given_up or attempts > self.max_retries:
            if not state.given_up:
                note_refusal(
                    self.crawler,
                    "retries_exhausted",
                    request.url,
                    f"{response.status} after {attempts} attempts",
                )
            return response  # archived as received; HttpError keeps it from the spider
        self.crawler.stats.inc_value("adarchive/backoff/retries")
        retry = request.replace(dont_filter=True, priority=request.priority - 1)
        retry.meta[META_ATTEMPTS] = attempts
        return retry

    def _note_refusal(self, request: Request, response: Response) -> HostState:
        """Count a 429/503, pause the site (slot included) or give it up."""
        host = self._host(request)
        state = self.hosts.setdefault(host, HostState())
        state.refusals_in_row += 1
        stats = self.crawler.stats
        stats.inc_value(f"adarchive/backoff/status_{response.status}")
        asked = parse_retry_after(response.headers.get(b"Retry-After"))
        if asked is not None:
            stats.inc_value("adarchive/backoff/retry_after_honoured")
        delay = backoff_delay(state.refusals_in_row, asked, self.base, self.cap)
        if asked is not None and asked > self.max_retry_after:
            why = f"asked to wait {asked:.0f}s (> {self.max_retry_after:.0f}s)"
            self._give_up(state, host, why, request)
        elif state.refusals_in_row >= self.max_refusals:
            self._give_up(state, host, f"{state.refusals_in_row} refusals in a row", request)
        else:
            state.paused_until = max(state.paused_until, time.monotonic() + delay)
            self._pause_slot(request, state.paused_until)
            stats.max_value("adarchive/backoff/longest_pause", round(delay, 3))
            logger.info(
                "%s answered %d (Retry-After %s): pausing the site %.1fs",
                host,
                response.status,
                "none" if asked is None else f"{asked:.1f}s",
                delay,
            )
        return state

    def _slot(self, request: Request) -> object | None:
        engine = self.crawler.engine
        if engine is None:
            return None
        downloader = engine.downloader
        return downloader.slots.get(downloader.get_slot_key(request))

    def _pause_slot(self, request: Request, until: float) -> None:
        """Hold requests already queued in the site's download slot until ``until``.

        The slot sends its next request once ``delay`` has passed since
        ``lastseen`` (both on the monotonic clock); moving ``lastseen`` ahead
        pauses it. A zero delay would skip that check, so it becomes 1 ms.
        """
        slot = self._slot(request)
        if slot is None:
            return
        slot.lastseen = max(slot.lastseen, until)  # type: ignore[attr-defined]
        if slot.delay <= 0:  # type: ignore[attr-defined]
            slot.delay = 0.001  # type: ignore[attr-defined]

    def _give_up(self, state: HostState, host: str, why: str, request: Request) -> None:
        if state.given_up:
            return
        state.given_up = why
        self.crawler.stats.inc_value("adarchive/backoff/sites_given_up")
        logger.warning("giving up %s for this crawl: %s", host, why)
        engine = self.crawler.engine
        if engine is not None:  # requests already waiting in the slot: refused, not sent
            key = engine.downloader.get_slot_key(request)
            refuse_queued(self.crawler, "site_given_up", why, slot_key=key)


def _closing(crawler: Crawler) -> bool:
    """Whether the engine has begun closing the spider (no public flag; read defensively)."""
    from crawler.shutdown import shutdown_requested

    slot = getattr(crawler.engine, "_slot", None)
    return shutdown_requested() or (slot is not None and getattr(slot, "closing", None) is not None)
