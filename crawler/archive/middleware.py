"""Downloader middleware that archives every response as received into WARC files.

At order 950 it is the middleware closest to the downloader, so in the response
direction it runs before HttpCompression (590), Redirect (600) and HttpCache
(900): it sees the body still content-coded and every redirect, error status
and robots.txt response, exactly as fetched.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime
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
from crawler.archive.records import ExchangeContext, ExchangeIds, build_exchange
from crawler.archive.warcinfo import software
from crawler.archive.writer import (
    ClosedWarc,
    RecordSpec,
    RotatingWarcWriter,
    WrittenRecord,
    new_record_id,
    utc_now,
)

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response

    from crawler.archive.revisit import RevisitPolicy
    from crawler.archive.sidecar import PendingCapture, SidecarChannel
    from crawler.store.recorder import CrawlRecorder

logger = logging.getLogger(__name__)

META_CAPTURE_ID = "adarchive_capture_id"
META_CAPTURE = "adarchive_capture"


def exchange_specs(
    request: Request,
    response: Response,
    ids: ExchangeIds,
    fetched_at: datetime,
    recorder: CrawlRecorder,
    policy: RevisitPolicy | None,
) -> list[RecordSpec]:
    """The records of one exchange, the response first: here or in the evidence writer.

    With a revisit policy, an unchanged payload becomes a revisit record pointing
    at the earlier capture, not a second copy (crawler/archive/revisit.py).
    """
    context = ExchangeContext(
        platform=recorder.platform,
        crawl_id=recorder.crawl_id,
        spider=recorder.platform,
        software=software(),
    )
    specs = build_exchange(request, response, ids=ids, fetched_at=fetched_at, context=context)
    return specs if policy is None else policy.apply(specs)


def add_exchange_captures(recorder: CrawlRecorder, written: list[WrittenRecord]) -> int:
    """A capture row per written record, the others children of the first; its id."""
    head = written[0]
    capture_id = recorder.add_capture(head, head.warc_file_id)
    for record in written[1:]:
        recorder.add_capture(record, record.warc_file_id, parent_id=capture_id)
    return capture_id


def warc_max_age(settings: Any) -> float | None:
    """Seconds a WARC file may hold a capture before it is closed and time-stamped.

    Only with a TSA configured: without one, closing early would bound nothing.
    """
    from crawler.evidence.anchor import tsa_urls

    if not tsa_urls(settings.get("ADARCHIVE_TSA_URL")):
        return None
    minutes = settings.getfloat("ADARCHIVE_WARC_MAX_AGE_MINUTES")
    if not minutes > 0:
        raise ValueError(f"ADARCHIVE_WARC_MAX_AGE_MINUTES must be more than 0 (got {minutes})")
    return minutes * 60


def start_rotation_timer(writer: RotatingWarcWriter) -> Any:
    """A reactor timer that closes ``writer``'s file once it is due, even if no record
    arrives (an idle crawl); returns the running LoopingCall, or None if not needed."""
    interval = writer.check_interval
    if interval is None:
        return None
    from twisted.internet import task

    timer = task.LoopingCall(writer.close_if_due)
    timer.start(interval, now=False).addErrback(
        lambda failure: logger.error("WARC rotation timer stopped: %s", failure.value)
    )
    return timer


def uses_evidence_process(crawler: Crawler) -> bool:
    """Evidence goes to the writer process unless it is off or the platform needs a
    browser (a rendered page's records are grouped from the browser's events here)."""
    if not crawler.settings.getbool("ADARCHIVE_EVIDENCE_PROCESS") or os.name != "posix":
        return False  # the writer's pipe protocol needs POSIX pipes
    definition = getattr(crawler.spidercls, "definition", None)
    return not getattr(definition, "needs_browser", False)


class ArchiveMiddleware(WarcCaptureMiddleware):
    """The add-on's middleware with adarchive's store: capture rows for every record,
    revisits, the evidence writer process, and browser pages' own records."""

    writer: RotatingWarcWriter | None  # type: ignore[assignment]

    def __init__(
        self,
        crawler: Crawler,
        recorder: CrawlRecorder,
        writer: RotatingWarcWriter | None,
        channel: SidecarChannel | None = None,
    ):
        super().__init__(crawler, writer)  # type: ignore[arg-type]
        self.recorder = recorder
        # With ADARCHIVE_EVIDENCE_PROCESS the records are written by the evidence
        # writer process (crawler/archive/sidecar.py), not here.
        self.channel = channel
        if writer is not None:
            recorder.add_commit_hook(writer.sync)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ArchiveMiddleware:
        settings = crawler.settings
        if not settings.getbool("ADARCHIVE_WARC_ENABLED"):
            raise NotConfigured("ADARCHIVE_WARC_ENABLED is off")
        from crawler.store.recorder import CrawlRecorder

        recorder = CrawlRecorder.for_crawler(crawler)
        directory = settings.get("ADARCHIVE_WARC_DIR") or recorder.data_root / "warc"
        if uses_evidence_process(crawler):
            return cls._with_evidence_process(crawler, recorder, Path(directory))

        def on_close(closed: ClosedWarc) -> None:
            if closed.warc_file_id is not None:
                recorder.warc_file_closed(closed.warc_file_id, closed.size, closed.sha256)
            if crawler.stats is not None:
                crawler.stats.inc_value("adarchive/warc/files_closed")

        # Revisits (crawler/archive/revisit.py): this writer can also write revisit records.
        from crawler.archive.revisit import RevisitWarcWriter

        writer = RevisitWarcWriter(
            directory=Path(directory),
            prefix=settings.get("ADARCHIVE_WARC_PREFIX"),
            max_size=settings.getint("ADARCHIVE_WARC_MAX_SIZE"),
            warcinfo=lambda: warcinfo_fields(settings, recorder.platform, recorder.crawl_id),
            on_open=recorder.warc_file_opened,
            on_close=on_close,
            max_age=warc_max_age(settings),
        )
        middleware = cls(crawler, recorder, writer)
        crawler.signals.connect(middleware.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(middleware.spider_closed, signal=signals.spider_closed)
        return middleware

    @classmethod
    def _with_evidence_process(
        cls, crawler: Crawler, recorder: CrawlRecorder, directory: Path
    ) -> ArchiveMiddleware:
        from crawler.archive.sidecar import WRITER_SETTINGS, ChannelConfig, SidecarChannel

        settings = crawler.settings

        def config() -> ChannelConfig:
            return ChannelConfig(
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

        channel = SidecarChannel(crawler, config)
        channel.attach()
        # The writer shares the store: what this process still writes itself (crawl rows,
        # a browser platform's captures) is committed at once, so SQLite's write lock is
        # never held here while the reactor waits on a full pipe to the writer.
        recorder.store.commit_every = 1
        # After the recorder's own spider_opened (connected first): the crawl row exists.
        crawler.signals.connect(
            lambda spider: channel.open(), signal=signals.spider_opened, weak=False
        )

        def close_channel() -> None:
            counts = channel.close()
            if channel.failed:  # not all evidence reached the store: not a finished crawl
                recorder.finish_reason = "evidence_writer_failed"
            if crawler.stats is not None:
                for key, value in counts.get("stats", {}).items():
                    crawler.stats.inc_value(key, value)
            ads = counts.get("ads")
            if ads:  # the writer's counts are the ones that reached the store
                recorder.stats["ads"] = ads.get("ads", 0)
                recorder.stats["new_ads"] = ads.get("new_ads", 0)

        recorder.before_finish.append(close_channel)
        return cls(crawler, recorder, None, channel)

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
        if self.channel is not None:
            request.meta[META_CAPTURE] = self._send(request, response)
            # A row id copied from an earlier request's meta (a resumed page's redirect)
            # is not this response's proof: the writer resolves the record id instead.
            request.meta.pop(META_CAPTURE_ID, None)
            return response
        written = self.archive(request, response)
        request.meta[META_CAPTURE_ID] = written[0]
        request.meta[META_CAPTURE] = written[1]
        return response

    def archive(self, request: Request, response: Response) -> tuple[int, WrittenRecord]:
        """Write one exchange and its capture rows; return the response capture."""
        writer = self.writer
        ids = ExchangeIds(writer.new_record_id(), writer.new_record_id(), writer.new_record_id())
        specs = exchange_specs(
            request, response, ids, writer.now(), self.recorder, self._revisit_policy()
        )
        written = writer.write_group(specs)
        response_record = written[0]
        capture_id = add_exchange_captures(self.recorder, written)
        self._inc("adarchive/warc/records", len(written))
        self._inc("adarchive/warc/bytes", sum(r.length for r in written))
        return capture_id, response_record

    def _send(self, request: Request, response: Response) -> PendingCapture:
        """Hand the exchange to the evidence writer; its response record id and time."""
        from crawler.archive.sidecar import EvidenceWriterGone

        assert self.channel is not None
        ids = (new_record_id(), new_record_id(), new_record_id())
        try:
            return self.channel.send_exchange(request, response, ids, utc_now())
        except EvidenceWriterGone as exc:
            self._inc("adarchive/warc/not_archived")
            raise IgnoreRequest(f"not archived, so not used: {exc}") from None

    def _revisit_policy(self) -> RevisitPolicy | None:
        # Revisits (crawler/archive/revisit.py): the policy is built on first use.
        policy = getattr(self, "_policy", False)
        if policy is False:
            from crawler.archive.revisit import RevisitPolicy

            policy = self._policy = RevisitPolicy.from_crawler(self.crawler, self.recorder)
        return policy

    def spider_opened(self, spider: Spider) -> None:
        # With a TSA: files close on time even while the crawl waits (ADARCHIVE_WARC_MAX_AGE_MINUTES).
        self._rotation = start_rotation_timer(self.writer) if self.writer is not None else None

    def spider_closed(self, spider: Spider, reason: str) -> None:
        if self.writer is None:
            return  # the evidence writer's channel closes before the crawl row is finished
        timer = getattr(self, "_rotation", None)
        if timer is not None and timer.running:
            timer.stop()
        self.writer.close()
        self.recorder.remove_commit_hook(self.writer.sync)
