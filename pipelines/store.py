"""Store pipeline: hand each advert to the crawl's evidence sink, which stores it.

The sink (crawler/sink/) upserts the ad, adds a sighting and links its
identifiers and images to the capture that proves it: in the crawl's
process, or in the evidence writer process (then after the capture the
advert names by WARC record id). An advert the sink cannot take is counted
(``adarchive/ads_not_stored``), logged and dropped: never a silent loss.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem, NotConfigured

from crawler.evidence.custody_listener import custody_recorder
from crawler.sink.adverts import ADS_NOT_STORED, ad_not_stored, normalised_text, text_sha256
from crawler.sink.evidence_sink import EvidenceSink
from crawler.sink.in_process import InProcessSink
from crawler.store.recorder import CrawlRecorder

__all__ = ["ADS_NOT_STORED", "StorePipeline", "normalised_text", "text_sha256"]

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler


def sink_for(crawler: Crawler, recorder: CrawlRecorder) -> EvidenceSink:
    """The crawler's sink; without the archive middleware (WARC off), one that stores
    adverts and images in this process."""
    sink = EvidenceSink.for_crawler(crawler)
    if sink is None:
        sink = InProcessSink(recorder, None, stats=crawler.stats, settings=crawler.settings)
        sink.attach(crawler)
    return sink


class StorePipeline:
    """Hands each Ad to the sink, which stores it keyed by (platform, external_id)."""

    def __init__(self, recorder: CrawlRecorder, sink: EvidenceSink, stats: Any = None) -> None:
        self.recorder = recorder
        self.sink = sink
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        if not crawler.settings.getbool("ADARCHIVE_STORE_ENABLED"):
            raise NotConfigured("ADARCHIVE_STORE_ENABLED is off")
        recorder = custody_recorder(crawler)
        return cls(recorder, sink_for(crawler, recorder), crawler.stats)

    def open_spider(self, spider: Spider | None = None) -> None:
        pass

    def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        # The adapter, not a deep copy (asdict): every value is read once, as is.
        fields = dict(ItemAdapter(item).items())
        try:
            self.sink.record_item(fields)
        except Exception as exc:
            ad_not_stored(self.stats, fields, exc)
            raise DropItem(f"not stored: {type(exc).__name__}: {exc}") from None
        if self.sink.out_of_process:
            self.recorder.stats["ads"] += 1  # sent; the writer's own count replaces it at close
        return item

    def store_ad(self, fields: Mapping[str, Any]) -> int:
        """Store one advert in this process at once (tools and tests); its ad id."""
        return self._in_process().adverts.store_ad(fields)

    def store_ad_alone(self, fields: Mapping[str, Any]) -> int:
        """:meth:`store_ad` in a savepoint: a refused advert is undone alone."""
        return self._in_process().adverts.store_ad_alone(fields)

    def _in_process(self) -> InProcessSink:
        if isinstance(self.sink, InProcessSink):
            return self.sink
        return InProcessSink(self.recorder, None)
