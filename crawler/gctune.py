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
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.exceptions import NotConfigured

from crawler.heap import freeze_heap

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


class GcTuneExtension:
    def __init__(self, threshold: int) -> None:
        self.threshold = threshold

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> GcTuneExtension:
        threshold = crawler.settings.getint("ADARCHIVE_GC_THRESHOLD")
        if threshold <= 0:
            raise NotConfigured("ADARCHIVE_GC_THRESHOLD is 0: the collector is left as it is")
        extension = cls(threshold)
        crawler.signals.connect(extension.engine_started, signal=signals.engine_started)
        return extension

    def engine_started(self) -> None:
        freeze_heap(self.threshold)
