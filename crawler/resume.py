"""``adarchive crawl … --resume``: continue an interrupted crawl without re-fetching.

Scrapy's JOBDIR cannot survive ``kill -9`` (its queues are not fsynced with
our store), so a resumed crawl starts again from the start URLs and, for
every URL the interrupted crawl already captured (a committed 200 response
capture, whose record is on disk by construction), answers from the WARC
record instead of the network. The spider re-parses those pages, so links
and items lost with the killed process come back; the ads point at the
original captures. The crawls resumed are the platform's crawls since its
last finished one; stale ``running`` rows of dead processes become
``interrupted``, and the custody log gets a ``crawl.resumed`` event.
"""

from __future__ import annotations

import gzip
import io
import logging
import socket
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http import Headers
from scrapy.responsetypes import responsetypes
from scrapy.utils.httpobj import urlparse_cached
from sqlalchemy import select

from crawler.procs import pid_alive
from crawler.store.models import Capture, Crawl, Platform, Sighting, WarcFile

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response

    from crawler.store.recorder import CrawlRecorder

logger = logging.getLogger(__name__)

OPEN_SUFFIX = ".open"


@dataclass(frozen=True)
class StoredCapture:
    capture_id: int
    url: str
    path: str
    offset: int
    length: int
    record_id: str | None
    fetched_at: datetime


def wait_for_writer(session: Any, data_root: Path, crawl_id: int, timeout: float = 120) -> None:
    """A crawl killed on its own leaves its evidence writer finishing what it was sent
    (crawler/sink/writer_process.py): wait until no WARC file of that crawl is held open,
    so the captures read next are all there is."""
    import time

    from crawler.archive.writer import file_in_use
    from crawler.store.models import WarcFile

    paths = [
        data_root / (p + OPEN_SUFFIX)
        for p in session.scalars(
            select(WarcFile.path).where(WarcFile.crawl_id == crawl_id, WarcFile.status == "open")
        )
    ]
    deadline = time.monotonic() + timeout
    while any(file_in_use(p) for p in paths):
        if time.monotonic() > deadline:
            logger.error(
                "crawl %s: its WARC files are still being written; resuming anyway", crawl_id
            )
            return
        logger.info("crawl %s: waiting for its evidence writer to finish", crawl_id)
        session.commit()  # no snapshot held while the writer commits
        time.sleep(0.5)
    session.commit()


def resumable_crawls(session: object, platform: str, current: int | None) -> list[Crawl]:
    """The platform's crawls since its last finished one (newest first), current excluded."""
    rows = session.scalars(  # type: ignore[attr-defined]
        select(Crawl).join(Platform).where(Platform.name == platform).order_by(Crawl.id.desc())
    )
    out = []
    for crawl in rows:
        if crawl.id == current:
            continue
        if crawl.status == "finished":
            break
        out.append(crawl)
    return out


def stored_captures(session: object, crawl_ids: list[int]) -> dict[str, StoredCapture]:
    """URL → its newest committed 200 response capture among these crawls."""
    if not crawl_ids:
        return {}
    query = (
        select(Capture, WarcFile.path)
        .join(WarcFile, Capture.warc_file_id == WarcFile.id)
        .where(Capture.crawl_id.in_(crawl_ids), Capture.kind == "response", Capture.status == 200)
        .order_by(Capture.id)
    )
    out: dict[str, StoredCapture] = {}
    for capture, path in session.execute(query):  # type: ignore[attr-defined]
        out[capture.url] = StoredCapture(
            capture.id,
            capture.url,
            path,
            int(capture.offset or 0),
            int(capture.length or 0),
            capture.record_id,
            capture.fetched_at,
        )
    return out


def captures_with_items(session: object, capture_ids: list[int]) -> set[int]:
    """Captures whose advert is already stored (a sighting names them): nothing left to do."""
    found: set[int] = set()
    for start in range(0, len(capture_ids), 500):
        chunk = capture_ids[start : start + 500]
        found |= set(
            session.scalars(  # type: ignore[attr-defined]
                select(Sighting.capture_id).where(Sighting.capture_id.in_(chunk))
            )
        )
    return found


def read_http_record(data_root: Path, stored: StoredCapture) -> tuple[int, Headers, bytes]:
    """Status, headers and body (content-coding intact) of a stored response record."""
    from warcio.archiveiterator import ArchiveIterator

    path = Path(stored.path)
    if not path.is_absolute():
        path = data_root / path
    if not path.exists():
        path = path.with_name(path.name + OPEN_SUFFIX)
    with open(path, "rb") as fh:
        fh.seek(stored.offset)
        member = fh.read(stored.length)
    if len(member) != stored.length:
        raise OSError(f"{path}: record at {stored.offset} is cut short")
    gzip.decompress(member)  # a damaged member fails here, before any parsing
    record = next(iter(ArchiveIterator(io.BytesIO(member))))
    head = record.http_headers
    status = int(head.get_statuscode())
    headers = Headers()
    for name, value in head.headers:
        headers.appendlist(name, value)
    body = record.raw_stream.read()
    return status, headers, body


class ResumeMiddleware:
    """Order 45: answers already-captured URLs from the archive when ``ADARCHIVE_RESUME`` is on."""

    def __init__(self, crawler: Crawler, recorder: CrawlRecorder) -> None:
        self.crawler = crawler
        self.recorder = recorder
        self.captures: dict[str, StoredCapture] | None = None
        self.done: set[int] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ResumeMiddleware:
        if not crawler.settings.getbool("ADARCHIVE_RESUME"):
            raise NotConfigured("not resuming")
        from crawler.evidence.custody_listener import custody_recorder

        return cls(crawler, custody_recorder(crawler))

    def _load(self, spider: Spider) -> dict[str, StoredCapture]:
        recorder = self.recorder
        current = recorder.start_crawl(spider)
        session = recorder.session
        crawls = resumable_crawls(session, spider.name, current)
        host = socket.gethostname()
        for crawl in crawls:
            if crawl.status == "running" and crawl.host == host and not pid_alive(crawl.pid):
                wait_for_writer(session, recorder.data_root, crawl.id)
                crawl.status = "interrupted"
                crawl.finish_reason = crawl.finish_reason or "process died"
        recorder.store.commit()
        captures = stored_captures(session, [c.id for c in crawls])
        self.done = captures_with_items(session, [c.capture_id for c in captures.values()])
        self.crawler.stats.set_value("adarchive/resume/crawls", [c.id for c in crawls])
        self.crawler.stats.set_value("adarchive/resume/stored_urls", len(captures))
        logger.info(
            "resuming %s: crawls %s hold %d captured URLs, answered from the archive",
            spider.name,
            [c.id for c in crawls] or "none",
            len(captures),
        )
        from crawler.politeness.policy import record_custody

        record_custody(
            self.crawler,
            spider,
            "crawl.resumed",
            {"resumes": [c.id for c in crawls], "stored_urls": len(captures)},
        )
        return captures

    def process_request(self, request: Request, spider: Spider | None = None) -> Response | None:
        if self.captures is None:
            self.captures = self._load(spider or self.crawler.spider)
        stored = self.captures.get(request.url)
        if stored is None or urlparse_cached(request).path == "/robots.txt":
            return None
        if stored.capture_id in self.done:
            # Its advert is in the store already, with this capture: skip the page.
            self.crawler.stats.inc_value("adarchive/resume/already_stored")
            raise IgnoreRequest(f"already stored from capture {stored.capture_id}")
        try:
            status, headers, body = read_http_record(self.recorder.data_root, stored)
        except Exception as exc:  # unreadable record: fetch again rather than lose the page
            logger.warning("cannot replay %s from the archive (%s): fetching", request.url, exc)
            self.crawler.stats.inc_value("adarchive/resume/unreadable")
            return None
        self.crawler.stats.inc_value("adarchive/resume/replayed")
        request.meta["adarchive_capture_id"] = stored.capture_id
        request.meta["adarchive_capture"] = SimpleNamespace(
            fetched_at=stored.fetched_at, record_id=stored.record_id
        )
        cls = responsetypes.from_args(headers=headers, url=request.url, body=body)
        return cls(
            url=request.url,
            status=status,
            headers=headers,
            body=body,
            request=request,
            flags=["replayed"],
        )
