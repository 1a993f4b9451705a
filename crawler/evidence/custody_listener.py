"""The custody events a crawl writes: a listener on :mod:`crawler.store.recorder`.

The recorder announces each moment (crawl started, crawl finished, WARC file
closed) to its listeners; :class:`CustodyListener` turns them into custody
events (and, with a TSA, time-stamps), so every event's shape lives next to
the chain code and the store imports nothing of custody. Each call comes
right after the recorder committed, so the session is clean and a lost race
with another writer can be rolled back without losing captures.
"""

from __future__ import annotations

import logging
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from crawler.archive.warcinfo import robots_policy
from crawler.evidence.events import (
    CRAWL_FINISHED,
    CRAWL_STARTED,
    WARC_CLOSED,
    crawl_subject,
    warc_subject,
)

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from crawler.store.models import Crawl, WarcFile
    from crawler.store.recorder import CrawlRecorder

logger = logging.getLogger(__name__)


def crawl_started(recorder: CrawlRecorder, crawl: Crawl) -> None:
    """Settings and robots policy the crawl runs under, before its first fetch."""
    from crawler.crawlsettings import capture_settings
    from crawler.evidence.custody import record_event

    settings = recorder.crawler.settings
    details = {
        "crawl_id": crawl.id,
        "platform": recorder.platform,
        "host": crawl.host,
        "pid": crawl.pid,
        "robots": robots_policy(settings),
        "settings": _jsonable(capture_settings(settings)),
    }
    record_event(recorder.session, CRAWL_STARTED, crawl_subject(crawl.id), details)


def crawl_finished(recorder: CrawlRecorder, crawl: Crawl) -> None:
    """How the crawl ended and what it gathered."""
    from crawler.evidence.custody import record_event

    details = {
        "crawl_id": crawl.id,
        "platform": recorder.platform,
        "status": crawl.status,
        "state": crawl.state,
        "reason": crawl.finish_reason,
        "pages": crawl.pages,
        "ads": crawl.ads,
        "new_ads": crawl.new_ads,
        "errors": crawl.errors,
    }
    record_event(recorder.session, CRAWL_FINISHED, crawl_subject(crawl.id), details)
    from crawler.evidence.audithead import record_audit_head

    # The workbench's audit chain head, time-stamped with the custody head below.
    record_audit_head(recorder.session, f"crawl {crawl.id} finished")
    from crawler.evidence.anchor import anchor_head, tsa_urls

    urls = tsa_urls(recorder.crawler.settings.get("ADARCHIVE_TSA_URL") or None)
    anchor_head(recorder.session, recorder.data_root, f"crawl {crawl.id} finished", urls)


def warc_closed(recorder: CrawlRecorder, row: WarcFile, records: int | None = None) -> None:
    """The closed file's name, size and SHA-256; then, if a TSA is set, its time-stamp."""
    from crawler.evidence.custody import record_event

    details = {
        "name": PurePosixPath(row.path).name,
        "path": row.path,
        "size": row.size,
        "sha256": row.sha256,
        "crawl_id": row.crawl_id,
    }
    record_event(recorder.session, WARC_CLOSED, warc_subject(row.path), details)
    from crawler.evidence.anchor import tsa_urls

    urls = tsa_urls(recorder.crawler.settings.get("ADARCHIVE_TSA_URL"))
    if not urls:
        return
    from crawler.evidence.timestamp import on_warc_closed, retry_missing

    path = Path(row.path)
    if not path.is_absolute():
        path = recorder.data_root / path

    def subject_of(warc: Path) -> str:
        try:
            return warc_subject(warc.relative_to(recorder.data_root).as_posix())
        except ValueError:
            return warc_subject(str(warc))

    # Requests an unreachable TSA left undone at earlier closes: queued until now.
    retry_missing(path.parent, urls, recorder.session, subject_of)
    on_warc_closed(
        path,
        row.sha256 or "",
        row.size or 0,
        records,
        session=recorder.session,
        subject=warc_subject(row.path),
        tsa_urls=urls,  # a token from each TSA over the file's manifest
    )
    from crawler.evidence.anchor import anchor_head

    anchor_head(recorder.session, recorder.data_root, f"warc closed {path.name}", urls)


class CustodyListener:
    """Writes the custody events of a recorder's moments (see the module's docstring)."""

    def crawl_started(self, recorder: CrawlRecorder, crawl: Crawl) -> None:
        crawl_started(recorder, crawl)

    def crawl_finished(self, recorder: CrawlRecorder, crawl: Crawl) -> None:
        crawl_finished(recorder, crawl)

    def warc_closed(self, recorder: CrawlRecorder, row: WarcFile) -> None:
        warc_closed(recorder, row)


def with_custody(recorder: CrawlRecorder) -> CrawlRecorder:
    """``recorder`` with the custody listener attached (once)."""
    recorder.add_listener(CustodyListener())
    return recorder


def custody_recorder(crawler: Crawler) -> CrawlRecorder:
    """The crawler's recorder, writing custody events: what every evidence component uses."""
    from crawler.store.recorder import CrawlRecorder

    return with_custody(CrawlRecorder.for_crawler(crawler))


def _jsonable(value: Any) -> Any:
    """Settings values as canonical JSON accepts them (no floats like inf, no objects)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    return str(value)
