"""The sink that writes in the crawl's own thread (``ADARCHIVE_EVIDENCE_PROCESS`` off,
browser-rendered platforms, or no WARC at all: then adverts and images only)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from crawler.archive.records import ExchangeIds
from crawler.sink.adverts import AdvertWriter
from crawler.sink.captures import add_exchange_captures, exchange_specs
from crawler.sink.evidence_sink import Captured, EvidenceSink, PageCaptured
from crawler.sink.image_store import ImageStore, known_hashes
from crawler.sink.messages import ChannelCounts, ImageFetched
from crawler.store.models import Capture

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.http import Response

    from crawler.archive.revisit import RevisitPolicy
    from crawler.archive.writer import RecordSpec, RotatingWarcWriter
    from crawler.store.recorder import CrawlRecorder


class InProcessSink(EvidenceSink):
    """Records and rows written here; commits batched by the shared store."""

    def __init__(
        self,
        recorder: CrawlRecorder,
        writer: RotatingWarcWriter | None,
        *,
        stats: Any = None,
        settings: Any = None,
        revisit_policy: Callable[[], RevisitPolicy | None] | None = None,
    ) -> None:
        self.recorder = recorder
        self.writer = writer
        self.stats = stats
        self.adverts = AdvertWriter(recorder)
        self._settings = settings
        self._images: ImageStore | None = None
        self._policy_factory = revisit_policy
        self._policy: RevisitPolicy | None | bool = False
        self.closed = False
        if writer is not None:
            recorder.add_commit_hook(writer.sync)

    def _inc(self, key: str, count: int = 1) -> None:
        if self.stats is not None:
            self.stats.inc_value(key, count)

    def _revisit_policy(self) -> RevisitPolicy | None:
        # Built on first use: it reads the store, which exists once the crawl row does.
        if self._policy is False:
            self._policy = self._policy_factory() if self._policy_factory else None
        return self._policy  # type: ignore[return-value]

    # -- exchanges ----------------------------------------------------------

    def _writer(self) -> RotatingWarcWriter:
        if self.writer is None:
            raise RuntimeError("this sink has no WARC writer (ADARCHIVE_WARC_ENABLED is off)")
        return self.writer

    def new_record_id(self) -> str:
        return self._writer().new_record_id()

    def record_exchange(self, request: Request, response: Response) -> Captured:
        writer = self._writer()
        ids = ExchangeIds(writer.new_record_id(), writer.new_record_id(), writer.new_record_id())
        specs = exchange_specs(
            request, response, ids, writer.now(), self.recorder, self._revisit_policy()
        )
        written = writer.write_group(specs)
        capture_id = add_exchange_captures(self.recorder, written)
        self._inc("adarchive/warc/records", len(written))
        self._inc("adarchive/warc/bytes", sum(r.length for r in written))
        return Captured(written[0], capture_id)

    def record_browser_page(self, specs: list[RecordSpec]) -> PageCaptured:
        written = self._writer().write_group(specs)
        page_record = written[0]
        recorder = self.recorder
        capture_id = recorder.add_capture(page_record, page_record.warc_file_id)
        dom_capture_id = None
        for record in written[1:]:
            child = recorder.add_capture(record, record.warc_file_id, parent_id=capture_id)
            if record.url.startswith("urn:dom:"):
                dom_capture_id = child
        self._inc("adarchive/warc/records", len(written))
        self._inc("adarchive/warc/bytes", sum(r.length for r in written))
        self._inc("adarchive/warc/browser_pages")
        return PageCaptured(capture_id, page_record, dom_capture_id)

    # -- adverts and images -------------------------------------------------

    def record_item(self, fields: dict[str, Any]) -> None:
        self.adverts.store_ad_alone(fields)

    def images(self) -> ImageStore:
        if self._images is None:
            known = known_hashes(self._settings) if self._settings is not None else None
            self._images = ImageStore(self.recorder, known, self.stats)
        return self._images

    def advert_known(self, platform: str | None, external_id: str | None) -> bool:
        return self.images().ad_id_for(platform, external_id) is not None

    def record_image(self, image: ImageFetched) -> None:
        images = self.images()
        ad_id = images.ad_id_for(image.platform, image.external_id)
        if ad_id is None:
            self._inc("adarchive/images/without_advert")
            return
        images.store_image(
            ad_id,
            image.url,
            image.data,
            self.capture_id(image.capture),
            self.capture_id(image.parent),
        )

    def capture_id(self, capture: int | str | None) -> int | None:
        """A capture row id, from a row id or a WARC record id."""
        if capture is None or isinstance(capture, int):
            return capture
        return self.recorder.session.scalar(select(Capture.id).where(Capture.record_id == capture))

    # -- end ------------------------------------------------------------------

    def flush(self) -> None:
        self.recorder.store.commit()

    def close(self) -> ChannelCounts:
        """Close the WARC file (its SHA-256 into the custody log); rows commit with the store."""
        if not self.closed:
            self.closed = True
            if self.writer is not None:
                self.writer.close()
                self.recorder.remove_commit_hook(self.writer.sync)
        return ChannelCounts()
