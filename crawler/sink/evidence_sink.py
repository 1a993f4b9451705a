"""The evidence sink: where the crawl hands every exchange, advert, image and browser page.

Scrapy components (the archive middleware, the store and images pipelines, the
browser path) talk to one :class:`EvidenceSink` per crawler and never ask how
it writes. Two implementations, chosen by ``ADARCHIVE_EVIDENCE_PROCESS``:

* :class:`crawler.sink.in_process.InProcessSink` writes WARC records and rows
  in the crawl's own thread;
* :class:`crawler.sink.writer_process.WriterProcessSink` sends typed messages
  (crawler/sink/messages.py) down a pipe to the *evidence writer* process on
  the other core, without ever blocking the reactor.

Both write the same files, rows and custody events.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

    from crawler.archive.writer import RecordSpec, WrittenRecord
    from crawler.sink.messages import ChannelCounts, ImageFetched, PendingCapture

# Request meta the sink's answers are kept in (read by the spider and pipelines).
META_CAPTURE_ID = "adarchive_capture_id"
META_CAPTURE = "adarchive_capture"


@dataclass(frozen=True)
class Captured:
    """The response capture of one exchange, as far as the crawl can know it."""

    record: WrittenRecord | PendingCapture
    """The response record (its id, time and URL); written, or being written."""
    capture_id: int | None = None
    """Its capture row, when written in this process."""


@dataclass(frozen=True)
class PageCaptured:
    """A rendered page's document capture and the rendered DOM's capture."""

    capture_id: int
    record: WrittenRecord
    dom_capture_id: int | None


class EvidenceSink(ABC):
    """One crawler's evidence: exchanges, adverts, images and browser pages."""

    ATTR = "_adarchive_evidence_sink"
    #: Whether the work runs off the crawl's thread (then the crawl's side keeps
    #: its own CPU-bound work, contact extraction, off the reactor too).
    out_of_process = False

    failed = False
    """Set when evidence sent to the sink may be missing (the writer died)."""

    @classmethod
    def for_crawler(cls, crawler: Crawler) -> EvidenceSink | None:
        """The crawler's sink, when the archive middleware (or a pipeline) made one."""
        return getattr(crawler, EvidenceSink.ATTR, None)

    def attach(self, crawler: Crawler) -> None:
        setattr(crawler, EvidenceSink.ATTR, self)

    def new_record_id(self) -> str:
        """A WARC-Record-ID for a record this crawl builds itself (browser pages)."""
        from crawler.archive.writer import new_record_id

        return new_record_id()

    @abstractmethod
    def record_exchange(self, request: Request, response: Response) -> Captured:
        """Archive one exchange as received: records and capture rows."""

    @abstractmethod
    def record_item(self, fields: dict[str, Any]) -> None:
        """Store one advert (the item's fields), linked to its capture.

        Raises when it cannot be stored (the caller counts and drops it).
        """

    @abstractmethod
    def record_image(self, image: ImageFetched) -> None:
        """Hash and store one image of a stored advert."""

    def advert_known(self, platform: str | None, external_id: str | None) -> bool:
        """Whether the advert's images are worth fetching: False only when the sink
        knows the advert was not stored (a writer process cannot know yet)."""
        return True

    @abstractmethod
    def record_browser_page(self, specs: list[RecordSpec]) -> PageCaptured:
        """Archive one rendered page's records (document response first)."""

    @abstractmethod
    def flush(self) -> None:
        """Make what was handed over so far durable (commit)."""

    @abstractmethod
    def close(self) -> ChannelCounts:
        """Close files, commit, and return the counts for the crawl's stats."""
