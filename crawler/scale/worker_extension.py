"""The worker extension: what makes a definition spider a shared-frontier worker.

scrapy-redis's scheduler already keeps the request queue and the duplicate
filter in Redis; what a worker still needs (the role of scrapy-redis's
``RedisSpider``, done here as an extension so that every definition spider,
and ``scrapy crawl`` / Scrapyd jobs too, can be a worker):

* **seeds** — JSON lines ``{"url": …, "role": "listing"|"detail"}`` pushed to
  ``<prefix>:<platform>:start_urls`` (``adarchive frontier seed``) are turned
  into requests for the spider's own callbacks when the worker is idle;
* **no own start URLs** — a worker starts only from seeds, so starting a
  fresh worker in the middle of a crawl never restarts the crawl;
* **staying alive** — a plain spider closes as soon as the shared queue is
  briefly empty, although another worker may be about to add to it. Each
  worker marks itself busy in Redis while it has work; an idle worker closes
  only once it and every other worker of the platform have been idle for
  ``ADARCHIVE_SCALE_IDLE_CLOSE`` seconds (0 = never: wait for more seeds).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from typing import TYPE_CHECKING, Any

import scrapy
from scrapy import signals
from scrapy.exceptions import DontCloseSpider, NotConfigured

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

SEED_BATCH = 16
BUSY_WINDOW_SECONDS = 3.0
# A busy worker refreshes its mark in Redis at most this often: the call blocks the
# event loop, and once per response cost a worker 5 % of its loop (issue 21's profile);
# a mark this fresh is always inside BUSY_WINDOW_SECONDS.
BUSY_REFRESH_SECONDS = BUSY_WINDOW_SECONDS / 6
POLL_SECONDS = 0.5


def workers_key(prefix: str, platform: str) -> str:
    return f"{prefix}:{platform}:workers"


def seed_request(spider: Any, data: bytes | str) -> scrapy.Request | None:
    """A request for the spider's own callback from one JSON seed (None if unusable)."""
    try:
        seed = json.loads(data)
    except (TypeError, ValueError):
        logger.warning("ignoring a seed that is not JSON: %r", data[:200])
        return None
    url = seed.get("url") if isinstance(seed, dict) else None
    if not isinstance(url, str) or not url:
        logger.warning("ignoring a seed without url: %r", seed)
        return None
    role = seed.get("role", "listing")
    callback = spider.parse_detail if role == "detail" else spider.parse_listing
    meta = {"adarchive_role": "detail" if role == "detail" else "listing"}
    allowed = getattr(spider, "_allowed", None)
    if allowed is not None and not allowed(url):
        logger.warning("ignoring a seed outside the platform's hosts: %s", url)
        return None
    return scrapy.Request(url, callback=callback, meta=meta)


class WorkerExtension:
    def __init__(self, crawler: Crawler, server: Any, prefix: str, idle_close: float) -> None:
        self.crawler = crawler
        self.server = server
        self.prefix = prefix
        self.idle_close = idle_close
        self.me = f"{socket.gethostname()}:{os.getpid()}:{id(crawler):x}"
        self._idle_since: float | None = None
        self._marked = float("-inf")
        self._key = ""
        self._seeds_key = ""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> WorkerExtension:
        settings = crawler.settings
        url = settings.get("ADARCHIVE_SCALE_REDIS_URL")
        if not url:
            raise NotConfigured("ADARCHIVE_SCALE_REDIS_URL is not set: not a worker")
        import redis

        ext = cls(
            crawler,
            redis.Redis.from_url(url),
            settings.get("ADARCHIVE_SCALE_PREFIX"),
            settings.getfloat("ADARCHIVE_SCALE_IDLE_CLOSE"),
        )
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(ext.busy, signal=signals.response_received)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider: Spider) -> None:
        settings = self.crawler.settings
        self._key = workers_key(self.prefix, spider.name)
        self._seeds_key = settings.get("REDIS_START_URLS_KEY") % {"name": spider.name}
        # The worker's own start URLs are not crawled: seeds start the crawl.
        spider.start_urls = []
        engine = self.crawler.engine
        if engine is not None:
            # Look at the shared queue twice a second, not every 5 s (Scrapy's default),
            # so an idle worker picks up what another worker just discovered.
            engine._SLOT_HEARTBEAT_INTERVAL = POLL_SECONDS
        self.busy()

    def busy(self, *_: Any, **__: Any) -> None:
        """Mark this worker busy now (every response it receives)."""
        self._idle_since = None
        now = time.monotonic()
        if now - self._marked >= BUSY_REFRESH_SECONDS:
            self._marked = now
            self.server.zadd(self._key, {self.me: time.time()})

    def others_busy(self) -> bool:
        recent = time.time() - BUSY_WINDOW_SECONDS
        members = self.server.zrangebyscore(self._key, recent, "+inf")
        return any(m.decode() != self.me for m in members)

    def pull_seeds(self, spider: Spider) -> int:
        """Move a batch of seeds from Redis into this worker's (shared) scheduler."""
        with self.server.pipeline() as pipe:  # atomic: each seed goes to one worker
            pipe.lrange(self._seeds_key, 0, SEED_BATCH - 1)
            pipe.ltrim(self._seeds_key, SEED_BATCH, -1)
            batch, _ = pipe.execute()
        engine = self.crawler.engine
        count = 0
        for data in batch:
            request = seed_request(spider, data)
            if request is not None and engine is not None:
                engine.crawl(request)
                count += 1
        if count and self.crawler.stats is not None:
            self.crawler.stats.inc_value("adarchive/scale/seeds", count)
        return count

    def spider_idle(self, spider: Spider) -> None:
        if self.pull_seeds(spider):
            self.busy()
            raise DontCloseSpider
        now = time.monotonic()
        if self._idle_since is None:
            self._idle_since = now
        if self.idle_close <= 0 or now - self._idle_since < self.idle_close:
            raise DontCloseSpider
        if self.others_busy():
            raise DontCloseSpider  # another worker may still add to the frontier
        logger.info("frontier drained and every worker idle for %.1fs: closing", self.idle_close)

    def spider_closed(self, spider: Spider, reason: str) -> None:
        with contextlib.suppress(Exception):  # Redis gone: the entry ages out anyway
            self.server.zrem(self._key, self.me)
