"""A per-site politeness limiter shared by every worker through Redis.

Scrapy's download slots keep each process polite, but N processes would hit
a site N times as hard. Here a site's budget lives in Redis: one atomic Lua
script grants a request only when

* the site's *next allowed time* has come (it is then moved ``delay`` on), and
* fewer than ``concurrency`` leases of the site are held (a lease is taken with
  the grant and dropped when the request leaves the downloader; a crashed
  worker's lease expires after ``DOWNLOAD_TIMEOUT`` plus a margin).

Dropping a lease moves the next allowed time to ``delay`` after that moment
too: a grant is not the instant the request goes out (the worker's event loop
may be busy for a few milliseconds), but with one request in flight per site
the next one is then at least ``delay`` after the previous one on the wire.
That is what one worker with that DOWNLOAD_DELAY and one request per site
does (slightly politer: the delay counts from the response). Times come from
the Redis server's clock, so workers on several machines agree. The delay of a site is the larger of ``ADARCHIVE_SCALE_DELAY`` and
its robots.txt Crawl-delay (set on the local slot by crawler.robots_delay).

Within one process only one request per site asks Redis at a time (an asyncio
lock), so waiting requests do not poll the server in a crowd. The middleware
asks through Redis's asyncio client: a blocking call per request held the
worker's event loop for 15 % of its time (issue 21's profile), time in which
nothing else downloaded or parsed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import NotConfigured

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

META_LEASE = "adarchive_scale_lease"
POLL_SECONDS = 0.05
LEASE_MARGIN_SECONDS = 30.0

# KEYS: next-allowed (ms), leases (zset lease -> expiry ms)
# ARGV: delay ms, concurrency, lease id, lease ttl ms
# Returns 0 when granted, else milliseconds to wait (-1: wait for a lease to end).
ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
if nxt > now then return nxt - now end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[2]) then return -1 end
local delay = tonumber(ARGV[1])
local ttl = tonumber(ARGV[4])
redis.call('SET', KEYS[1], now + delay, 'PX', math.max(delay, 1) + 60000)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[3])
redis.call('PEXPIRE', KEYS[2], ttl + 60000)
return 0
"""


# KEYS: next-allowed (ms), leases. ARGV: lease id, delay ms.
# The next grant also waits ``delay`` after this request's response: a grant is
# not the moment the request leaves (the worker's event loop may be busy), so
# spacing from releases is what guarantees ``delay`` between requests on the wire.
RELEASE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local removed = redis.call('ZREM', KEYS[2], ARGV[1])
local delay = tonumber(ARGV[2])
if removed == 1 and delay > 0 then
  local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
  if now + delay > nxt then
    redis.call('SET', KEYS[1], now + delay, 'PX', delay + 60000)
  end
end
return removed
"""


def site_keys(prefix: str, site: str) -> tuple[str, str]:
    return f"{prefix}:limit:{site}:next", f"{prefix}:limit:{site}:leases"


class SharedLimiter:
    """The Redis side: ``acquire`` a grant for a site, ``release`` its lease."""

    def __init__(self, server: Any, prefix: str, async_server: Any = None) -> None:
        self.server = server
        self.prefix = prefix
        self._acquire_async = async_server.register_script(ACQUIRE) if async_server else None
        self._acquire = server.register_script(ACQUIRE)
        self._release = server.register_script(RELEASE)
        self._worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._serial = 0

    def try_acquire(
        self, site: str, delay: float, concurrency: int, lease_ttl: float
    ) -> tuple[str | None, float]:
        """(lease id, 0) when granted, else (None, seconds to wait before asking again)."""
        self._serial += 1
        lease = f"{self._worker}:{self._serial}"
        wait_ms = int(
            self._acquire(
                keys=list(site_keys(self.prefix, site)),
                args=[int(delay * 1000), concurrency, lease, int(lease_ttl * 1000)],
            )
        )
        return self._answer(lease, wait_ms)

    async def acquire_async(
        self, site: str, delay: float, concurrency: int, lease_ttl: float
    ) -> tuple[str | None, float]:
        """``try_acquire`` without blocking the event loop (the asyncio client, if given)."""
        if self._acquire_async is None:
            return self.try_acquire(site, delay, concurrency, lease_ttl)
        self._serial += 1
        lease = f"{self._worker}:{self._serial}"
        wait_ms = int(
            await self._acquire_async(
                keys=list(site_keys(self.prefix, site)),
                args=[int(delay * 1000), concurrency, lease, int(lease_ttl * 1000)],
            )
        )
        return self._answer(lease, wait_ms)

    @staticmethod
    def _answer(lease: str, wait_ms: int) -> tuple[str | None, float]:
        if wait_ms == 0:
            return lease, 0.0
        if wait_ms < 0:
            return None, POLL_SECONDS
        return None, wait_ms / 1000.0

    def release(self, site: str, lease: str, delay: float = 0.0) -> None:
        """Drop the lease; the site's next grant comes ``delay`` after this moment at the earliest."""
        self._release(keys=list(site_keys(self.prefix, site)), args=[lease, int(delay * 1000)])


class SharedPolitenessMiddleware:
    """Downloader middleware: waits for the shared limiter before a request goes out."""

    def __init__(self, crawler: Crawler, limiter: SharedLimiter) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.limiter = limiter
        self.delay = settings.get("ADARCHIVE_SCALE_DELAY")
        if self.delay is None:
            self.delay = settings.getfloat("DOWNLOAD_DELAY")
        self.concurrency = max(1, settings.getint("ADARCHIVE_SCALE_CONCURRENCY"))
        self.lease_ttl = settings.getfloat("DOWNLOAD_TIMEOUT") + LEASE_MARGIN_SECONDS
        self._locks: dict[str, asyncio.Lock] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SharedPolitenessMiddleware:
        settings = crawler.settings
        url = settings.get("ADARCHIVE_SCALE_REDIS_URL")
        if not url:
            raise NotConfigured("ADARCHIVE_SCALE_REDIS_URL is not set: politeness stays local")
        import redis
        import redis.asyncio

        server = redis.Redis.from_url(url)
        limiter = SharedLimiter(
            server, settings.get("ADARCHIVE_SCALE_PREFIX"), redis.asyncio.Redis.from_url(url)
        )
        middleware = cls(crawler, limiter)
        crawler.signals.connect(middleware.request_left, signal=signals.request_left_downloader)
        return middleware

    def site(self, request: Request) -> str:
        """The politeness key: the download slot's key (host name) of the request."""
        engine = self.crawler.engine
        if engine is not None:
            return str(engine.downloader.get_slot_key(request))
        from scrapy.utils.httpobj import urlparse_cached

        return urlparse_cached(request).hostname or ""

    def site_delay(self, site: str) -> float:
        """The shared delay, or the site's robots.txt Crawl-delay when larger."""
        engine = self.crawler.engine
        local = 0.0
        if engine is not None:
            local = float(engine.downloader.per_slot_settings.get(site, {}).get("delay", 0.0))
        return max(self.delay, local)

    async def process_request(self, request: Request, spider: Spider | None = None) -> None:
        if META_LEASE in request.meta:
            return None
        site = self.site(request)
        lock = self._locks.setdefault(site, asyncio.Lock())
        waited = 0.0
        async with lock:
            while True:
                lease, wait = await self.limiter.acquire_async(
                    site, self.site_delay(site), self.concurrency, self.lease_ttl
                )
                if lease is not None:
                    break
                waited += wait
                await asyncio.sleep(wait)
        request.meta[META_LEASE] = (site, lease, self.site_delay(site))
        stats = self.crawler.stats
        if stats is not None:
            stats.inc_value("adarchive/scale/granted")
            stats.inc_value("adarchive/scale/wait_ms", int(waited * 1000))
        return None

    def _release(self, request: Request) -> None:
        held = request.meta.pop(META_LEASE, None)
        if held is not None:
            try:
                self.limiter.release(*held)
            except Exception:  # the lease expires on its own
                logger.warning("could not release politeness lease %s", held[1])

    def process_response(
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Response:
        self._release(request)
        return response

    def process_exception(
        self, request: Request, exception: Exception, spider: Spider | None = None
    ) -> None:
        self._release(request)
        return None

    def request_left(self, request: Request, spider: Spider | None = None) -> None:
        self._release(request)
