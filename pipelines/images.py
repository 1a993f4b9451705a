"""Images pipeline: fetch each advert's images through Scrapy, archive them, hash them.

Images are downloaded with the crawler's own engine, so they pass every
downloader middleware like any page: robots.txt, the offsite filter, the
politeness slot of the site, size limits, and the archive middleware, which
writes the WARC records and the ``capture`` row. The image capture's parent is
the advert page's capture. Each image gets a SHA-256 (exact reuse) and a
64-bit pHash (re-encoded / resized copies); an image matching the agency's
known-hash list (``ADARCHIVE_KNOWN_HASHES``) is stored flagged, never shown.

Runs after the store pipeline (which creates the ``ad_image`` rows with their
URLs); it fills ``image_id`` and ``capture_id`` on them.

Cost (issue 21): an image takes at most ``ADARCHIVE_IMAGES_CONCURRENCY_PER_SITE``
of a site's download slots, so adverts' pages keep flowing while galleries are
fetched; when this process stores the images itself, decoding and pHashing a
new image (milliseconds, the GIL mostly released by Pillow) runs on a small
thread pool, not on the crawl's event loop, and an image already stored (same
SHA-256) is never decoded again. With the evidence writer process, the bytes
go there and it does the same.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import scrapy
from itemadapter import ItemAdapter
from scrapy.exceptions import IgnoreRequest, NotConfigured
from sqlalchemy import select

from crawler.analysis.knownhashes import KnownHashes
from crawler.analysis.phash import ImageDecodeError, image_facts
from crawler.archive.sidecar import EvidenceWriterGone, SidecarChannel
from crawler.guard.scheme import scheme_refusal, url_scheme
from crawler.politeness.refusals import note_refusal
from crawler.store.models import Ad, AdImage, Capture, Image, Platform, value_sha256

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler

    from crawler.store.recorder import CrawlRecorder

logger = logging.getLogger(__name__)

META_PARENT = "adarchive_parent_capture_id"
META_CAPTURE_ID = "adarchive_capture_id"
META_CAPTURE = "adarchive_capture"
DEFAULT_MAX_PER_AD = 10
DEFAULT_MAXSIZE = 10 * 1024 * 1024
DEFAULT_PER_SITE = 4
FACTS_THREADS = 2  # one per core here; Pillow's decode releases the GIL

Facts = tuple[str, int, int] | ImageDecodeError
"""(pHash, width, height) of an image, or why it could not be decoded."""


class ImagesPipeline:
    """Downloads, archives and hashes ``item["images"]``; links them to the stored ad."""

    def __init__(
        self,
        crawler: Crawler,
        recorder: CrawlRecorder,
        max_per_ad: int = DEFAULT_MAX_PER_AD,
        maxsize: int = DEFAULT_MAXSIZE,
        known: KnownHashes | None = None,
        per_site: int = DEFAULT_PER_SITE,
    ) -> None:
        self.crawler = crawler
        self.recorder = recorder
        self.max_per_ad = max_per_ad
        self.maxsize = maxsize
        self.per_site = max(1, per_site)
        self.store = ImageStore(recorder, known, crawler.stats)
        self._sites: dict[str, asyncio.Semaphore] = {}
        self._facts: ThreadPoolExecutor | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ImagesPipeline:
        settings = crawler.settings
        if not settings.getbool("ADARCHIVE_IMAGES_ENABLED"):
            raise NotConfigured("ADARCHIVE_IMAGES_ENABLED is off")
        from crawler.store.recorder import CrawlRecorder

        return cls(
            crawler,
            CrawlRecorder.for_crawler(crawler),
            max_per_ad=settings.getint("ADARCHIVE_IMAGES_MAX_PER_AD"),
            maxsize=settings.getint("ADARCHIVE_IMAGES_MAXSIZE"),
            known=known_hashes(settings),
            per_site=settings.getint("ADARCHIVE_IMAGES_CONCURRENCY_PER_SITE"),
        )

    def close_spider(self, spider: Spider | None = None) -> None:
        if self._facts is not None:
            self._facts.shutdown(wait=True)
            self._facts = None

    async def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        adapter = ItemAdapter(item)
        urls = [u for u in (adapter.get("images") or []) if isinstance(u, str)]
        if not urls:
            return item
        channel = SidecarChannel.for_crawler(self.crawler)
        if channel is not None:
            # The evidence writer process stores the advert: images follow it there,
            # named by the advert's key and by the WARC record ids of the captures.
            ad: tuple | int | None = (adapter.get("platform"), adapter.get("external_id"))
            parent = adapter.get("capture_id") or adapter.get("capture_record_id")
        else:
            ad = self.store.ad_id_for(adapter.get("platform"), adapter.get("external_id"))
            parent = adapter.get("capture_id")
        if ad is None:
            return item
        for url in list(dict.fromkeys(urls))[: self.max_per_ad]:
            async with self._site_limit(url):
                await self._fetch(ad, url, parent, channel)
        return item

    def _site_limit(self, url: str) -> asyncio.Semaphore:
        """The site's image semaphore: images never hold more than ``per_site`` of its slots."""
        try:
            site = urlsplit(url).hostname or ""
        except ValueError:  # refused by _fetch, alone; it shares the "" semaphore meanwhile
            site = ""
        limit = self._sites.get(site)
        if limit is None:
            limit = self._sites[site] = asyncio.Semaphore(self.per_site)
        return limit

    async def _facts_off_loop(self, data: bytes) -> Facts:
        """pHash and size on the thread pool: the event loop keeps downloading meanwhile."""
        if self._facts is None:
            self._facts = ThreadPoolExecutor(FACTS_THREADS, thread_name_prefix="adarchive-phash")
        return await asyncio.get_running_loop().run_in_executor(self._facts, facts_of, data)

    def _inc(self, key: str) -> None:
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value(f"adarchive/images/{key}")

    async def _fetch(
        self, ad: Any, url: str, parent: int | str | None, channel: SidecarChannel | None
    ) -> None:
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
        if channel is not None:
            pending = response.meta.get(META_CAPTURE) if response.request else None
            pending = pending or request.meta.get(META_CAPTURE)
            record_id = getattr(pending, "record_id", None)
            try:
                channel.send("image", (*ad, url, response.body, record_id, parent))
            except EvidenceWriterGone:
                self._inc("not_stored")  # the crawl is closing: said once, by the channel
            return
        capture_id = response.meta.get(META_CAPTURE_ID) if response.request else None
        capture_id = capture_id or request.meta.get(META_CAPTURE_ID)
        data = response.body
        sha256 = hashlib.sha256(data).hexdigest()
        facts = None if self.store.has_image(sha256) else await self._facts_off_loop(data)
        self.store.store_image(
            ad, url, data, capture_id, parent,  # type: ignore[arg-type]
            sha256=sha256, facts=facts,
        )  # fmt: skip

    def store_image(
        self, ad_id: int, url: str, data: bytes, capture_id: int | None, parent: int | None
    ) -> Image | None:
        return self.store.store_image(ad_id, url, data, capture_id, parent)


def facts_of(data: bytes) -> Facts:
    """``image_facts`` with its refusal as a value (it crosses a thread boundary)."""
    try:
        return image_facts(data)
    except ImageDecodeError as exc:
        return exc


def known_hashes(settings: Any) -> KnownHashes | None:
    """The agency's known-hash list (``ADARCHIVE_KNOWN_HASHES``), if one is set."""
    path = settings.get("ADARCHIVE_KNOWN_HASHES")
    if not path:
        return None
    distance = settings.get("ADARCHIVE_KNOWN_PHASH_DISTANCE")
    return KnownHashes.load(path, int(distance))


class ImageStore:
    """Hashes image bytes into ``image`` rows and points ``ad_image`` rows at them.

    Used by the pipeline in the crawl's process, or by the evidence writer
    process (crawler/archive/sidecar_main.py) when that stores the adverts.
    """

    def __init__(self, recorder: CrawlRecorder, known: KnownHashes | None, stats: Any) -> None:
        self.recorder = recorder
        self.known = known
        self.stats = stats

    @classmethod
    def from_config(cls, recorder: CrawlRecorder, settings: dict, stats: Any) -> ImageStore:
        return cls(recorder, known_hashes(settings), stats)

    def _inc(self, key: str) -> None:
        if self.stats is not None:
            self.stats.inc_value(f"adarchive/images/{key}")

    def ad_id_for(self, platform: str | None, external_id: str | None) -> int | None:
        session = self.recorder.session
        return session.scalar(
            select(Ad.id)
            .join(Platform, Platform.id == Ad.platform_id)
            .where(
                Platform.name == platform,
                Ad.external_id_sha256 == value_sha256(external_id or ""),
            )
        )

    def has_image(self, sha256: str) -> bool:
        """Whether an image with these bytes is stored already (then it is not decoded again)."""
        return (
            self.recorder.session.scalar(select(Image.id).where(Image.sha256 == sha256)) is not None
        )

    def store_image(
        self,
        ad_id: int,
        url: str,
        data: bytes,
        capture_id: int | None,
        parent: int | None,
        *,
        sha256: str | None = None,
        facts: Facts | None = None,
    ) -> Image | None:
        """Hash the bytes (unless ``sha256`` is given), upsert the image, point the ad's
        image row at it. ``facts``: the pHash and size computed already (off the loop)."""
        session = self.recorder.session
        sha256 = sha256 or hashlib.sha256(data).hexdigest()
        image = session.scalar(select(Image).where(Image.sha256 == sha256))
        if image is None:
            if facts is None:
                facts = facts_of(data)
            if isinstance(facts, ImageDecodeError):
                self._inc("undecodable")
                logger.info("image %s not hashed: %s", url, facts)
                phash, width, height = None, None, None
            else:
                phash, width, height = facts
            flagged = bool(self.known and self.known.match(sha256, phash))
            image = Image(sha256=sha256, phash=phash, width=width, height=height, flagged=flagged)
            session.add(image)
            session.flush()
            self._inc("stored")
            if flagged:
                self._inc("flagged")
        row = session.scalar(
            select(AdImage).where(AdImage.ad_id == ad_id, AdImage.url_sha256 == value_sha256(url))
        )
        if row is None:
            row = AdImage(ad_id=ad_id, url=url)
            session.add(row)
        row.image_id = image.id
        row.capture_id = capture_id
        if capture_id is not None and parent is not None:
            capture = session.get(Capture, capture_id)
            if capture is not None and capture.parent_capture_id is None:
                capture.parent_capture_id = parent
        session.flush()
        self.recorder.store.touch()
        return image
