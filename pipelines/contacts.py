"""Contacts pipeline: extract contact identifiers from an ad's text fields.

Runs ``crawler.extract`` over ``title``, ``body``, ``name``, ``contacts``
(the contact texts and link targets, joined by newlines into one text) and
the page's own ``url`` (some boards put the number only in the address), and
stores the findings on the item's ``identifiers`` field, each with the field
it came from and its offsets in that field's text, for the store pipeline.
Links back to the ad's own site are not "off-platform" and are dropped.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from itemadapter import ItemAdapter
from scrapy.exceptions import NotConfigured

from crawler.extract.helper_process import (
    ExtractionWorker,
    WorkerGone,
    extraction_args,
    identifiers_for,
)
from crawler.sink.evidence_sink import EvidenceSink

__all__ = ["ContactsPipeline", "extraction_args", "identifiers_for"]

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler


class ContactsPipeline:
    """Fills ``item["identifiers"]`` with ``{kind, value, match, start, end, channel, field}``.

    Extraction is pure CPU work and the crawl runs in one thread: with
    ``ADARCHIVE_CONTACTS_WORKERS`` > 0 it runs in that many helper processes
    (crawler/extract/worker.py, shared by every crawler of the process), so the
    reactor thread keeps fetching while another core reads the adverts. When the
    crawl's evidence goes to the evidence writer process, at least one helper is
    used whatever the setting: the identifiers are on the item (so Scrapy's feed
    exports carry them) and the reactor thread still does no extraction.
    """

    def __init__(self, workers: int = 0, crawler: Crawler | None = None) -> None:
        self.workers = workers
        self.crawler = crawler
        self.helpers: HelperSet | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ContactsPipeline:
        if not crawler.settings.getbool("ADARCHIVE_CONTACTS_ENABLED"):
            raise NotConfigured("ADARCHIVE_CONTACTS_ENABLED is False")
        return cls(workers=crawler.settings.getint("ADARCHIVE_CONTACTS_WORKERS"), crawler=crawler)

    def open_spider(self, spider: Spider | None = None) -> None:
        pass

    async def close_spider(self, spider: Spider | None = None) -> None:
        if self.helpers is not None:
            helpers, self.helpers = self.helpers, None
            await helpers.release()

    async def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        adapter = ItemAdapter(item)
        args = extraction_args(adapter)
        found = None
        workers = self.workers or self._workers_for_sink()
        if workers > 0:
            if self.helpers is None:
                self.helpers = HelperSet.acquire(workers)
            try:
                found = await self.helpers.extract(*args)
            except WorkerGone:  # the helper died: extract here rather than lose the item
                found = None
        if found is None:
            found = identifiers_for(*args)
        adapter["identifiers"] = found
        return item

    def _workers_for_sink(self) -> int:
        """One helper when the sink keeps the reactor free of evidence work."""
        sink = EvidenceSink.for_crawler(self.crawler) if self.crawler is not None else None
        return 1 if sink is not None and sink.out_of_process else 0


class HelperSet:
    """Extraction helpers shared by every pipeline on one event loop."""

    _shared: dict[int, HelperSet] = {}

    def __init__(self, count: int) -> None:
        self.helpers = [ExtractionWorker() for _ in range(max(1, count))]
        self.users = 0
        self.loop = asyncio.get_running_loop()

    @classmethod
    def acquire(cls, count: int) -> HelperSet:
        loop = asyncio.get_running_loop()
        found = cls._shared.get(id(loop))
        if found is None or found.loop is not loop:
            found = cls._shared[id(loop)] = cls(count)
        found.users += 1
        return found

    async def extract(
        self,
        texts: list[tuple[str, str]],
        region: str | None,
        own_host: str | None,
        language: str | None = None,
    ) -> list[dict[str, Any]] | None:
        """Identifiers from the least busy live helper; None when none is left."""
        live = [h for h in self.helpers if not h.gone]
        if not live:
            return None
        helper = min(live, key=lambda h: h.waiting)
        return await helper.extract(texts, region, own_host, language)

    async def release(self) -> None:
        self.users -= 1
        if self.users > 0:
            return
        if HelperSet._shared.get(id(self.loop)) is self:
            del HelperSet._shared[id(self.loop)]
        await asyncio.gather(*(h.close() for h in self.helpers), return_exceptions=True)
