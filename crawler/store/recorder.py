"""The crawl's one door into the store: crawl rows, WARC files, captures, ads.

Scrapy components (archive middleware, store pipeline) reach the same
recorder through :meth:`CrawlRecorder.for_crawler`. Every crawler in a process
that names the same store shares one session: SQLite serialises writers, and
all Scrapy callbacks run in the reactor thread, so one session and batched
commits are both safe and fast. Before each commit the registered hooks run
(the WARC writer fsyncs), so no capture row ever points at bytes not on disk.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import insert
from sqlalchemy.orm import Session

from crawler import health
from crawler.crawlsettings import capture_settings
from crawler.store.db import open_store, resolve_db_url
from crawler.store.models import (
    Capture,
    Crawl,
    Platform,
    WarcFile,
    utcnow,
)
from crawler.store.prepared import Prepared
from crawler.store.upsert import get_or_create_id

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler


class RecordInfo(Protocol):
    """What the archive tells the store about one written WARC record."""

    kind: str
    url: str
    fetched_at: datetime
    status: int | None
    offset: int
    length: int
    record_id: str
    block_sha256: str
    payload_sha256: str | None
    ip: str | None
    content_type: str | None


@dataclass
class SharedStore:
    """One session per store URL per process, with batched commits."""

    url: str
    session: Session
    commit_every: int
    hooks: list[Callable[[], None]] = field(default_factory=list)
    pending: int = 0
    users: int = 0

    def touch(self, n: int = 1) -> None:
        self.pending += n
        if self.pending >= self.commit_every:
            self.commit()

    def commit(self) -> None:
        for hook in list(self.hooks):
            hook()
        self.session.commit()
        self.pending = 0


_STORES: dict[str, SharedStore] = {}
CAPTURE_COLUMNS = (
    "crawl_id",
    "warc_file_id",
    "kind",
    "url",
    "fetched_at",
    "status",
    "offset",
    "length",
    "record_id",
    "block_sha256",
    "payload_sha256",
    "ip",
    "content_type",
    "parent_capture_id",
)
# Three per page: run on the DBAPI cursor (crawler/store/prepared.py).
CAPTURE_INSERT = Prepared(
    insert(Capture.__table__).returning(Capture.__table__.c.id), CAPTURE_COLUMNS
)
# Many rows whose ids nobody needs back (an exchange's request and metadata captures).
CAPTURE_INSERT_MANY = Prepared(insert(Capture.__table__), CAPTURE_COLUMNS)


def capture_values(
    record: RecordInfo, crawl_id: int | None, warc_file_id: int | None,
    parent_id: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The capture row's values (:data:`CAPTURE_COLUMNS`) for one written record."""
    return {
        "crawl_id": crawl_id,
        "warc_file_id": warc_file_id,
        "kind": record.kind,
        "url": record.url,
        "fetched_at": record.fetched_at,
        "status": record.status,
        "offset": record.offset,
        "length": record.length,
        "record_id": record.record_id,
        "block_sha256": record.block_sha256,
        "payload_sha256": record.payload_sha256,
        "ip": record.ip,
        "content_type": record.content_type,
        "parent_capture_id": parent_id,
    }


def default_commit_every(url: str) -> int:
    """Batch commits on SQLite (one writer, fast); commit each item elsewhere.

    On PostgreSQL several crawler processes write at once: short transactions
    that take row locks in a fixed order cannot deadlock each other.
    """
    return 200 if url.startswith("sqlite") else 1


def shared_store(url: str, commit_every: int = 0, *, create: bool = True) -> SharedStore:
    store = _STORES.get(url)
    if store is None:
        factory = open_store(url, create=create)
        every = commit_every or default_commit_every(url)
        store = SharedStore(url=url, session=factory(), commit_every=max(1, every))
        _STORES[url] = store
    return store


def set_aside_shared_stores() -> dict[str, SharedStore]:
    """For a process forked from one that shares stores: they are its parent's (the same
    connections); take them out of use and return them, to be kept, never closed."""
    stores = dict(_STORES)
    _STORES.clear()
    return stores


def release_store(store: SharedStore) -> None:
    store.users -= 1
    if store.users <= 0:
        store.commit()
        store.session.close()
        store.session.get_bind().dispose()
        _STORES.pop(store.url, None)


class RecorderListener(Protocol):
    """Told of each moment of a crawl's record, right after the recorder committed it.

    The custody log is one (crawler/evidence/events.py): the store knows the
    moments, the layers above decide what they mean, and the store imports
    nobody above it.
    """

    def crawl_started(self, recorder: CrawlRecorder, crawl: Crawl) -> None: ...

    def crawl_finished(self, recorder: CrawlRecorder, crawl: Crawl) -> None: ...

    def warc_closed(self, recorder: CrawlRecorder, row: WarcFile) -> None: ...


class CrawlRecorder:
    """Records one crawler's crawl, WARC files, captures (and, via pipelines, ads)."""

    ATTR = "_adarchive_recorder"

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.data_root = Path(settings.get("ADARCHIVE_DATA_DIR")).resolve()
        self.db_url = resolve_db_url(settings.get("ADARCHIVE_DB"), self.data_root)
        self.store = shared_store(self.db_url, settings.getint("ADARCHIVE_STORE_COMMIT_EVERY"))
        self.store.users += 1
        self.crawl_id: int | None = None
        self.platform_id: int | None = None
        self.platform: str = ""
        self.stats = {"pages": 0, "ads": 0, "new_ads": 0}
        # Run before the crawl row is finished: the evidence writer's channel closes here.
        self.before_finish: list[Callable[[], None]] = []
        # Set by a hook when the crawl cannot count as finished whatever Scrapy says.
        self.finish_reason: str | None = None
        self.health: health.Health | None = None
        self.listeners: list[RecorderListener] = []
        self._closed = False
        from scrapy import signals

        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(self.engine_stopped, signal=signals.engine_stopped)

    @classmethod
    def detached(
        cls,
        *,
        db_url: str,
        data_root: Path,
        commit_every: int,
        crawl_id: int | None,
        platform: str,
        platform_id: int | None,
        settings: Any,
        stats: Any = None,
    ) -> CrawlRecorder:
        """A recorder for a crawl run by another process (the evidence writer):
        the same store and rows, no signals; the crawl's own recorder owns the crawl row."""
        recorder = cls.__new__(cls)
        recorder.crawler = SimpleNamespace(settings=settings, stats=stats)  # type: ignore[assignment]
        recorder.data_root = data_root
        recorder.db_url = db_url
        recorder.store = shared_store(db_url, commit_every, create=False)  # the crawl made it
        recorder.store.users += 1
        recorder.crawl_id = crawl_id
        recorder.platform_id = platform_id
        recorder.platform = platform
        recorder.stats = {"pages": 0, "ads": 0, "new_ads": 0}
        recorder.before_finish = []
        recorder.finish_reason = None
        recorder.health = None
        recorder.listeners = []
        recorder._closed = True  # never finishes the crawl row
        return recorder

    def release(self) -> None:
        """Give back this recorder's share of the store (the last one commits and closes it)."""
        if self.store.users > 0 and not getattr(self, "_released", False):
            self._released = True
            release_store(self.store)

    @classmethod
    def for_crawler(cls, crawler: Crawler) -> CrawlRecorder:
        recorder = getattr(crawler, cls.ATTR, None)
        if recorder is None:
            recorder = cls(crawler)
            setattr(crawler, cls.ATTR, recorder)
        return recorder

    def add_listener(self, listener: RecorderListener) -> None:
        """Add ``listener`` unless one of its type is already there (several components attach)."""
        if not any(type(known) is type(listener) for known in self.listeners):
            self.listeners.append(listener)

    @property
    def session(self) -> Session:
        return self.store.session

    # -- crawl lifecycle --------------------------------------------------

    def spider_opened(self, spider: Spider) -> None:
        self.start_crawl(spider)

    def start_crawl(self, spider: Spider) -> int:
        if self.crawl_id is not None:
            return self.crawl_id
        definition = getattr(spider, "definition", None)
        self.platform = spider.name
        platform = self.ensure_platform(
            spider.name,
            getattr(definition, "country", None),
            getattr(definition, "language", None),
        )
        crawl = Crawl(
            platform_id=platform.id,
            started_at=utcnow(),
            status="running",
            host=socket.gethostname(),
            pid=os.getpid(),
            settings_json=json.dumps(
                capture_settings(self.crawler.settings), sort_keys=True, default=str
            ),
        )
        self.session.add(crawl)
        self.session.flush()
        self.crawl_id = crawl.id
        self.platform_id = platform.id
        self.store.commit()
        for listener in list(self.listeners):  # e.g. custody: settings and robots policy
            listener.crawl_started(self, crawl)
        return crawl.id

    def ensure_platform(self, name: str, country: str | None, language: str | None) -> Platform:
        platform_id, _ = get_or_create_id(
            self.session, Platform, {"name": name}, {"country": country, "language": language}
        )
        platform = self.session.get(Platform, platform_id)
        assert platform is not None
        platform.country = country or platform.country
        platform.language = language or platform.language
        return platform

    def spider_closed(self, spider: Spider, reason: str) -> None:
        self.finish_crawl(reason)

    def finish_crawl(self, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        for hook in list(self.before_finish):
            hook()
        reason = self.finish_reason or reason
        stats = self.crawler.stats
        if self.crawl_id is not None:
            crawl = self.session.get(Crawl, self.crawl_id)
            if crawl is not None:
                crawl.finished_at = utcnow()
                crawl.finish_reason = reason
                crawl.status = (
                    "finished"
                    # closespider_timeout: the budget's duration ran out (issue 7)
                    if reason in ("finished", "closespider_pagecount", "closespider_timeout")
                    else ("interrupted" if reason == "shutdown" else "failed")
                )
                if stats is not None:
                    crawl.pages = int(stats.get_value("response_received_count", 0) or 0)
                    crawl.errors = int(stats.get_value("log_count/ERROR", 0) or 0)
                crawl.ads = self.stats["ads"]
                crawl.new_ads = self.stats["new_ads"]
                # Finish state and definition health (DESIGN.md "Finish states").
                found = health.assess(
                    self.platform, stats.get_stats() if stats is not None else {}, crawl.ads, reason
                )
                self.health = found
                crawl.state = found.state
                crawl.health_json = json.dumps(found.as_dict(), sort_keys=True)
                if stats is not None:
                    stats.set_value(health.STATE_KEY, found.state)
        self.store.commit()
        if self.crawl_id is not None and crawl is not None:
            for listener in list(self.listeners):  # e.g. custody: how it ended, its stats
                listener.crawl_finished(self, crawl)

    def engine_stopped(self) -> None:
        """Last signal of a crawler: every component has closed, release the store."""
        self.release()

    # -- archive side -----------------------------------------------------

    def relative(self, path: Path) -> str:
        """A WARC path as stored: relative to the data root when inside it."""
        path = Path(path).resolve()
        try:
            return path.relative_to(self.data_root).as_posix()
        except ValueError:
            return path.as_posix()

    def warc_file_opened(self, path: Path) -> int:
        row = WarcFile(
            crawl_id=self.crawl_id, path=self.relative(path), status="open", opened_at=utcnow()
        )
        self.session.add(row)
        self.session.flush()
        return row.id

    def warc_file_closed(self, warc_file_id: int, size: int, sha256: str) -> None:
        row = self.session.get(WarcFile, warc_file_id)
        if row is not None:
            row.size = size
            row.sha256 = sha256
            row.status = "closed"
            row.closed_at = utcnow()
        self.store.commit()
        if row is not None:
            for listener in list(self.listeners):  # e.g. custody: name, size, SHA-256, time-stamp
                listener.warc_closed(self, row)

    def capture_row(
        self, record: RecordInfo, warc_file_id: int | None, parent_id: int | None = None
    ) -> dict[str, Any]:
        """The capture row's values for one written record of this crawl."""
        return capture_values(record, self.crawl_id, warc_file_id, parent_id)

    def add_capture(
        self, record: RecordInfo, warc_file_id: int | None, parent_id: int | None = None
    ) -> int:
        params = self.capture_row(record, warc_file_id, parent_id)
        capture_id = int(CAPTURE_INSERT.scalar(self.session, params))
        self.store.touch()
        return capture_id

    def add_captures(self, rows: list[dict[str, Any]]) -> None:
        """Many capture rows (from :meth:`capture_row`) in one executemany."""
        if rows:
            CAPTURE_INSERT_MANY.executemany(self.session, rows)
            self.store.touch(len(rows))

    def add_commit_hook(self, fn: Callable[[], None]) -> None:
        self.store.hooks.append(fn)

    def remove_commit_hook(self, fn: Callable[[], None]) -> None:
        if fn in self.store.hooks:
            self.store.hooks.remove(fn)
