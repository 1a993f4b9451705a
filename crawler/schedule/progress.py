"""Scrapy extension: a running crawl's progress, in the store and on a terminal.

The ``crawl`` row only gets its counts when a crawl ends. Every
``ADARCHIVE_PROGRESS_INTERVAL`` seconds this extension writes pages, ads,
errors and the scheduler's backlog into ``crawl_progress`` (through the
crawl's own store session, so SQLite never sees a second writer), which is
what ``adarchive status`` shows; its ``updated_at`` doubles as a heartbeat.
When stderr is a terminal it also draws a progress bar (``ADARCHIVE_PROGRESS_BAR``).
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import NotConfigured

from crawler.health import refusals_by_reason
from crawler.schedule.progressbar import TerminalProgress, progress_line
from crawler.store.models import CrawlProgress, utcnow

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

BAR_INTERVAL = 1.0


def crawl_counts(stats: Any, recorder: Any | None) -> dict[str, int]:
    """Pages, ads, errors and backlog of a crawl, from its Scrapy stats (and recorder)."""

    def value(key: str) -> int:
        return int(stats.get_value(key, 0) or 0) if stats is not None else 0

    ads = recorder.stats["ads"] if recorder is not None else value("item_scraped_count")
    return {
        "pages": value("response_received_count"),
        "ads": int(ads),
        "errors": value("log_count/ERROR"),
        # Known but not yet answered: waiting in the scheduler (Scrapy's counts
        # scheduler/*, scrapy-redis's scheduler/*/redis) or inside the downloader.
        "pending": max(
            0,
            value("scheduler/enqueued")
            + value("scheduler/enqueued/redis")
            - value("scheduler/dequeued")
            - value("scheduler/dequeued/redis"),
        )
        + max(0, value("downloader/request_count") - value("downloader/response_count")),
    }


class ProgressExtension:
    def __init__(self, crawler: Crawler, interval: float, terminal: TerminalProgress) -> None:
        self.crawler = crawler
        self.interval = interval
        self.terminal = terminal
        self.started = time.monotonic()
        self._last_store = 0.0
        self._loop: Any = None
        self._name = ""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ProgressExtension:
        settings = crawler.settings
        interval = settings.getfloat("ADARCHIVE_PROGRESS_INTERVAL")
        if interval <= 0:
            raise NotConfigured("ADARCHIVE_PROGRESS_INTERVAL is 0")
        terminal = TerminalProgress(enabled=None)
        if not settings.getbool("ADARCHIVE_PROGRESS_BAR"):
            terminal.enabled = False
        ext = cls(crawler, interval, terminal)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider: Spider) -> None:
        from twisted.internet import task

        self._name = spider.name
        self.started = time.monotonic()
        self._loop = task.LoopingCall(self.tick)
        step = min(self.interval, BAR_INTERVAL) if self.terminal.enabled else self.interval
        self._loop.start(step, now=False)

    def spider_closed(self, spider: Spider, reason: str) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self.store_progress()
        self.draw()
        self.terminal.done()

    def tick(self) -> None:
        self.draw()
        now = time.monotonic()
        if now - self._last_store >= self.interval - 1e-3:
            self._last_store = now
            self.store_progress()

    def _recorder(self) -> Any | None:
        from crawler.store.recorder import CrawlRecorder

        return getattr(self.crawler, CrawlRecorder.ATTR, None)

    def store_progress(self) -> None:
        """Write the counts into ``crawl_progress`` and commit (WARC files fsync first)."""
        recorder = self._recorder()
        if recorder is None or recorder.crawl_id is None or getattr(recorder, "_released", False):
            return
        counts = crawl_counts(self.crawler.stats, recorder)
        try:
            session = recorder.session
            row = session.get(CrawlProgress, recorder.crawl_id)
            if row is None:
                row = CrawlProgress(crawl_id=recorder.crawl_id)
                session.add(row)
            row.updated_at = utcnow()
            for key, value in counts.items():
                setattr(row, key, value)
            if self.crawler.stats is not None:  # refusals by reason, for the workbench
                row.refusals_json = json.dumps(refusals_by_reason(self.crawler.stats.get_stats()))
            recorder.store.commit()
        except Exception:  # progress is a convenience: never let it stop a crawl
            logger.exception("could not record crawl progress")

    def draw(self) -> None:
        if not self.terminal.enabled:
            return
        counts = crawl_counts(self.crawler.stats, self._recorder())
        elapsed = max(time.monotonic() - self.started, 1e-6)
        total = counts["pages"] + counts["pending"]
        extra = (
            f"pages  {counts['ads']} ads  {counts['pages'] / elapsed:.1f} p/s  "
            f"{counts['errors']} errors"
        )
        self.terminal.draw(progress_line(self._name, counts["pages"], total or None, extra))
