"""Downloader middleware that archives every response as received, through the evidence sink.

At order 950 it is the middleware closest to the downloader, so in the response
direction it runs before HttpCompression (590), Redirect (600) and HttpCache
(900): it sees the body still content-coded and every redirect, error status
and robots.txt response, exactly as fetched. It hands each exchange to the
crawler's evidence sink (crawler/sink/), chosen here by
``ADARCHIVE_EVIDENCE_PROCESS``: the evidence writer process, or this process.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import IgnoreRequest, NotConfigured

from crawler.archive.addon import (
    NOT_DOWNLOADED,
    WarcCaptureMiddleware,
    not_as_received,
    warcinfo_fields,
)
from crawler.archive.revisit import RevisitPolicy, RevisitWarcWriter
from crawler.archive.writer import ClosedWarc
from crawler.sink.evidence_sink import META_CAPTURE, META_CAPTURE_ID, EvidenceSink
from crawler.sink.in_process import InProcessSink
from crawler.sink.messages import WRITER_SETTINGS, EvidenceWriterGone, WriterConfig
from crawler.sink.rotation import start_rotation_timer, warc_max_age
from crawler.sink.writer_process import WriterProcessSink

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response

    from crawler.store.recorder import CrawlRecorder

__all__ = ["META_CAPTURE", "META_CAPTURE_ID", "ArchiveMiddleware", "uses_evidence_process"]


def uses_evidence_process(crawler: Crawler) -> bool:
    """Evidence goes to the writer process unless it is off or the platform needs a
    browser (a rendered page's records are grouped from the browser's events here)."""
    if not crawler.settings.getbool("ADARCHIVE_EVIDENCE_PROCESS") or os.name != "posix":
        return False  # the writer's pipe protocol needs POSIX pipes
    definition = getattr(crawler.spidercls, "definition", None)
    return not getattr(definition, "needs_browser", False)


class ArchiveMiddleware(WarcCaptureMiddleware):
    """The add-on's middleware with adarchive's store: capture rows for every record,
    revisits, the evidence writer process, and browser pages' own records, all
    through one :class:`EvidenceSink`."""

    def __init__(self, crawler: Crawler, recorder: CrawlRecorder, sink: EvidenceSink):
        super().__init__(crawler, None)  # type: ignore[arg-type]  # the sink writes
        self.recorder = recorder
        self.sink = sink
        sink.attach(crawler)
        self._rotation: Any = None
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ArchiveMiddleware:
        settings = crawler.settings
        if not settings.getbool("ADARCHIVE_WARC_ENABLED"):
            raise NotConfigured("ADARCHIVE_WARC_ENABLED is off")
        from crawler.evidence.custody_listener import custody_recorder

        recorder = custody_recorder(crawler)
        directory = Path(settings.get("ADARCHIVE_WARC_DIR") or recorder.data_root / "warc")
        if uses_evidence_process(crawler):
            return cls(crawler, recorder, _writer_process_sink(crawler, recorder, directory))
        return cls(crawler, recorder, _in_process_sink(crawler, recorder, directory))

    def process_response(
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Response:
        reason = not_as_received(request, response, self._sent)
        if reason == NOT_DOWNLOADED:
            self._inc("adarchive/warc/skipped_not_downloaded")
            return response
        if reason is not None:
            # A rendered DOM under network headers is not what was received;
            # browser traffic is archived from the browser's own responses, with
            # screenshot and rendered DOM (issue 6: crawler/archive/browser.py).
            from crawler.archive.browser import archive_browser_response

            archived = archive_browser_response(self, request, response)
            if archived is None:
                self._inc("adarchive/warc/skipped_browser")
                return response
            request.meta[META_CAPTURE_ID], request.meta[META_CAPTURE] = archived
            return response
        try:
            captured = self.sink.record_exchange(request, response)
        except EvidenceWriterGone as exc:
            self._inc("adarchive/warc/not_archived")
            raise IgnoreRequest(f"not archived, so not used: {exc}") from None
        request.meta[META_CAPTURE] = captured.record
        if captured.capture_id is None:
            # A row id copied from an earlier request's meta (a resumed page's redirect)
            # is not this response's proof: the writer resolves the record id instead.
            request.meta.pop(META_CAPTURE_ID, None)
        else:
            request.meta[META_CAPTURE_ID] = captured.capture_id
        return response

    def spider_opened(self, spider: Spider) -> None:
        # With a TSA, files close on time even while the crawl waits
        # (ADARCHIVE_WARC_MAX_AGE_MINUTES); the evidence writer keeps its own time.
        writer = (
            getattr(self.sink, "writer", None) if isinstance(self.sink, InProcessSink) else None
        )
        if writer is not None:
            self._rotation = start_rotation_timer(writer)

    def spider_closed(self, spider: Spider, reason: str) -> None:
        """After the crawl row is finished (the recorder's handler runs first): the
        in-process sink closes its WARC file; the writer's was closed before."""
        if self._rotation is not None and self._rotation.running:
            self._rotation.stop()
        self.sink.close()


def _in_process_sink(crawler: Crawler, recorder: CrawlRecorder, directory: Path) -> InProcessSink:
    settings = crawler.settings

    def on_close(closed: ClosedWarc) -> None:
        if closed.warc_file_id is not None:
            recorder.warc_file_closed(closed.warc_file_id, closed.size, closed.sha256)
        if crawler.stats is not None:
            crawler.stats.inc_value("adarchive/warc/files_closed")

    # Revisits (crawler/archive/revisit.py): this writer can also write revisit records.
    writer = RevisitWarcWriter(
        directory=directory,
        prefix=settings.get("ADARCHIVE_WARC_PREFIX"),
        max_size=settings.getint("ADARCHIVE_WARC_MAX_SIZE"),
        warcinfo=lambda: warcinfo_fields(settings, recorder.platform, recorder.crawl_id),
        on_open=recorder.warc_file_opened,
        on_close=on_close,
        max_age=warc_max_age(settings),
    )
    sink = InProcessSink(
        recorder,
        writer,
        stats=crawler.stats,
        settings=settings,
        revisit_policy=lambda: RevisitPolicy.from_crawler(crawler, recorder),
    )
    return sink


def _writer_process_sink(
    crawler: Crawler, recorder: CrawlRecorder, directory: Path
) -> WriterProcessSink:
    settings = crawler.settings

    def config() -> WriterConfig:
        return WriterConfig(
            db_url=recorder.db_url,
            data_root=str(recorder.data_root),
            # The batching this store would use here (0: its default) is the writer's.
            commit_every=settings.getint("ADARCHIVE_STORE_COMMIT_EVERY"),
            crawl_id=recorder.crawl_id,
            platform=recorder.platform,
            platform_id=recorder.platform_id,
            warc_dir=str(directory.resolve()),
            warc_prefix=settings.get("ADARCHIVE_WARC_PREFIX"),
            warc_max_size=settings.getint("ADARCHIVE_WARC_MAX_SIZE"),
            warcinfo=warcinfo_fields(settings, recorder.platform, recorder.crawl_id),
            revisits=settings.getbool("ADARCHIVE_WARC_REVISITS"),
            host=socket.gethostname(),
            pid=os.getpid(),
            settings={name: settings.get(name) for name in WRITER_SETTINGS},
        )

    sink = WriterProcessSink(crawler, config)
    # The writer shares the store: what this process still writes itself (crawl rows,
    # a browser platform's captures) is committed at once, so SQLite's write lock is
    # never held here while the writer waits for it.
    recorder.store.commit_every = 1
    # After the recorder's own spider_opened (connected first): the crawl row exists.
    crawler.signals.connect(lambda spider: sink.open(), signal=signals.spider_opened, weak=False)

    def close_sink() -> None:
        counts = sink.close()
        if sink.failed:  # not all evidence reached the store: not a finished crawl
            recorder.finish_reason = "evidence_writer_failed"
        if crawler.stats is not None:
            for key, value in counts.stats.items():
                crawler.stats.inc_value(key, value)
        if counts.ads:  # the writer's counts are the ones that reached the store
            recorder.stats["ads"] = counts.ads.get("ads", 0)
            recorder.stats["new_ads"] = counts.ads.get("new_ads", 0)

    # Before the crawl row is finished: its counts come from the writer.
    recorder.before_finish.append(close_sink)
    return sink
