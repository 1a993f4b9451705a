"""A test extension: a LoopingCall heartbeat that counts its ticks, and the ticks
that came while the engine was paused by the evidence sink's back-pressure.

Loaded into a crawl subprocess through ``EXTENSIONS`` (tests/ on PYTHONPATH):
if the reactor blocked on the writer's pipe, no tick would come while paused.
"""

from __future__ import annotations

from typing import Any

from scrapy import signals
from twisted.internet.task import LoopingCall

INTERVAL = 0.01


class Heartbeat:
    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.loop = LoopingCall(self.tick)
        crawler.signals.connect(self.start, signal=signals.engine_started)
        crawler.signals.connect(self.stop, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Any) -> Heartbeat:
        return cls(crawler)

    def start(self) -> None:
        self.loop.start(INTERVAL, now=False)

    def stop(self, spider: Any, reason: str) -> None:
        if self.loop.running:
            self.loop.stop()

    def tick(self) -> None:
        stats, engine = self.crawler.stats, self.crawler.engine
        stats.inc_value("test/heartbeat/ticks")
        if engine is not None and engine.paused:
            stats.inc_value("test/heartbeat/ticks_while_paused")
