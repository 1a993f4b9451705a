"""Images pipeline: fetch each advert's images through Scrapy, archive them, hash them.

Images are downloaded with the crawler's own engine, so they pass every
downloader middleware like any page: robots.txt, the offsite filter, the
politeness slot of the site, size limits, and the archive middleware, which
writes the WARC records and the ``capture`` row. The image capture's parent is
the advert page's capture. The bytes go to the crawl's evidence sink, which
hashes them (SHA-256 and pHash, crawler/sink/image_store.py) and links them to the
advert.

Runs after the store pipeline (which creates the ``ad_image`` rows with their
URLs); the sink fills ``image_id`` and ``capture_id`` on them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import scrapy
from itemadapter import ItemAdapter
from scrapy.exceptions import IgnoreRequest, NotConfigured

from crawler.guard.scheme import scheme_refusal, url_scheme
from crawler.politeness.refusals import note_refusal
from crawler.sink.evidence_sink import META_CAPTURE, META_CAPTURE_ID, EvidenceSink
from crawler.sink.messages import EvidenceWriterGone, ImageFetched

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler


logger = logging.getLogger(__name__)

META_PARENT = "adarchive_parent_capture_id"
DEFAULT_MAX_PER_AD = 10
DEFAULT_MAXSIZE = 10 * 1024 * 1024
DEFAULT_PER_SITE = 4


class ImagesPipeline:
    """Downloads, archives and hashes ``item["images"]``; links them to the stored ad."""

    def __init__(
        self,
        crawler: Crawler,
        sink: EvidenceSink,
        max_per_ad: int = DEFAULT_MAX_PER_AD,
        maxsize: int = DEFAULT_MAXSIZE,
        per_site: int = DEFAULT_PER_SITE,
    ) -> None:
        self.crawler = crawler
        self.sink = sink
        self.max_per_ad = max_per_ad
        self.maxsize = maxsize
        self.per_site = max(1, per_site)
        self._sites: dict[str, asyncio.Semaphore] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ImagesPipeline:
        settings = crawler.settings
        if not settings.getbool("ADARCHIVE_IMAGES_ENABLED"):
            raise NotConfigured("ADARCHIVE_IMAGES_ENABLED is off")
        from crawler.evidence.custody_listener import custody_recorder
        from pipelines.store import sink_for

        return cls(
            crawler,
            sink_for(crawler, custody_recorder(crawler)),
            max_per_ad=settings.getint("ADARCHIVE_IMAGES_MAX_PER_AD"),
            maxsize=settings.getint("ADARCHIVE_IMAGES_MAXSIZE"),
            per_site=settings.getint("ADARCHIVE_IMAGES_CONCURRENCY_PER_SITE"),
        )

    async def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        adapter = ItemAdapter(item)
        urls = [u for u in (adapter.get("images") or []) if isinstance(u, str)]
        if not urls:
            return item
        ad = (adapter.get("platform"), adapter.get("external_id"))
        if not self.sink.advert_known(*ad):
            return item  # the advert was refused: its images have nothing to belong to
        # The advert's page capture: a row id, or the WARC record id the writer resolves.
        parent = adapter.get("capture_id") or adapter.get("capture_record_id")
        for url in list(dict.fromkeys(urls))[: self.max_per_ad]:
            async with self._site_limit(url):
                await self._fetch(ad, url, parent)
        return item

    def _site_limit(self, url: str) -> asyncio.Semaphore:
        """The site's image semaphore: images never hold more than ``per_site`` of its
        download slots, so adverts' pages keep flowing while galleries are fetched."""
        try:
            site = urlsplit(url).hostname or ""
        except ValueError:  # refused by _fetch, alone
            site = ""
        limit = self._sites.get(site)
        if limit is None:
            limit = self._sites[site] = asyncio.Semaphore(self.per_site)
        return limit

    def _inc(self, key: str) -> None:
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value(f"adarchive/images/{key}")

    async def _fetch(self, ad: tuple[Any, Any], url: str, parent: int | str | None) -> None:
        # A bad URL is refused alone: the advert's other images are still fetched.
        why = scheme_refusal(url)
        if why is not None:
            self._inc("refused")
            note_refusal(self.crawler, "scheme", url, why, detail=url_scheme(url))
            return
        try:
            request = scrapy.Request(
                url,
                meta={
                    META_PARENT: parent,
                    "adarchive_role": "image",
                    "download_maxsize": self.maxsize,
                    "handle_httpstatus_all": True,
                },
                dont_filter=True,
            )
        except (ValueError, TypeError) as exc:
            self._inc("refused")
            note_refusal(self.crawler, "bad_url", url, f"not a URL Scrapy can request: {exc}")
            return
        assert self.crawler.engine is not None
        try:
            response = await self.crawler.engine.download_async(request)
        except IgnoreRequest:
            self._inc("ignored")  # robots.txt, offsite, too large …
            return
        except Exception as exc:  # network errors: the ad stays, the image row stays unhashed
            self._inc("failed")
            logger.info("image %s not fetched: %s", url, exc)
            return
        if response.status != 200:
            self._inc(f"status_{response.status}")
            return
        meta = response.meta if response.request else {}
        capture = meta.get(META_CAPTURE_ID) or request.meta.get(META_CAPTURE_ID)
        if capture is None:
            pending = meta.get(META_CAPTURE) or request.meta.get(META_CAPTURE)
            capture = getattr(pending, "record_id", None)
        try:
            self.sink.record_image(ImageFetched(*ad, url, response.body, capture, parent))
        except EvidenceWriterGone:
            self._inc("not_stored")  # the crawl is closing: said once, by the sink
