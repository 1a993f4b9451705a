"""Scrapy extension: keep Python's cyclic garbage collector off the crawl's back.

A crawl process holds a large, long-lived heap (Scrapy, Twisted, SQLAlchemy's
mappers, the phone-number metadata) and creates many short-lived objects per
response. With CPython's default thresholds, every full collection walks the
whole long-lived heap: measured on the fixture web, about a quarter of a
crawl's CPU went to the collector. Once the engine has started (every
component built, every module imported), this extension moves what exists
into the collector's permanent generation (``gc.freeze()``), so later
collections only look at objects made during the crawl, and raises the
first-generation threshold (``ADARCHIVE_GC_THRESHOLD``) so short-lived
garbage is collected in fewer, larger batches. Reference counting still frees
almost everything at once; only cycles wait a little longer.

How much longer matters (issue 21). Objects in reference cycles that outlive
a few young collections (a response and what hangs off it, while it waits
for its turn) reach the oldest generation, which CPython collects only when
it has grown by a quarter. Those objects hold memory the collector does not
count: an lxml document's tree is allocated by libxml2, outside Python's
heap. Measured on the fixture web, about 10 MiB of such garbage piled up
between full collections, and more as the crawl went on, so the process's
malloc arena, and its resident set, grew by about 1.7 kB a request. Every
``ADARCHIVE_GC_COLLECT_EVERY`` (200) responses of the whole process the extension
runs a full collection: with the start-up heap frozen it takes about 10-20 ms,
and the resident set stays flat.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.exceptions import NotConfigured

from crawler.heap import freeze_heap

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


class _Responses:
    """Responses since the last full collection, counted for the whole process
    (several crawlers may share it)."""

    since_collect = 0


class GcTuneExtension:
    def __init__(self, threshold: int, collect_every: int = 0) -> None:
        self.threshold = threshold
        self.collect_every = collect_every

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> GcTuneExtension:
        threshold = crawler.settings.getint("ADARCHIVE_GC_THRESHOLD")
        collect_every = crawler.settings.getint("ADARCHIVE_GC_COLLECT_EVERY")
        if threshold <= 0 and collect_every <= 0:
            raise NotConfigured(
                "ADARCHIVE_GC_THRESHOLD and ADARCHIVE_GC_COLLECT_EVERY are 0: "
                "the collector is left as it is"
            )
        extension = cls(threshold, collect_every)
        crawler.signals.connect(extension.engine_started, signal=signals.engine_started)
        if collect_every > 0:
            crawler.signals.connect(extension.response_received, signal=signals.response_received)
        return extension

    def engine_started(self) -> None:
        freeze_heap(self.threshold)

    def response_received(self) -> None:
        _Responses.since_collect += 1
        if _Responses.since_collect >= self.collect_every:
            _Responses.since_collect = 0
            gc.collect()
