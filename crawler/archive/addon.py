"""``WarcCapture``: evidence-grade WARC capture as a Scrapy add-on any project can enable.

A plain Scrapy project gets what adarchive's crawls archive, with one setting
and no store::

    ADDONS = {"crawler.archive.addon.WarcCapture": 0}

Every response is written as received (content-coding intact, before
decompression and redirects) with its request and a metadata record, SHA-256
block and payload digests, a warcinfo record per file, rotation at
``ADARCHIVE_WARC_MAX_SIZE``, and ``*.open`` names while a file is written (so
a crash never leaves a file that looks complete). What cannot be archived as
received is marked, never written as an ordinary response: a response served
from Scrapy's HTTP cache, and a scrapy-playwright response (its body is the
rendered DOM, under the network's headers). Other components attach through
the ``exchange_archived`` signal; adarchive's store, custody and extraction
are such components (crawler/archive/archive_middleware.py).
"""

from __future__ import annotations

import logging
import os
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.utils.defer import deferred_from_coro

from crawler.archive.records import ExchangeContext, ExchangeIds, build_exchange
from crawler.archive.warcinfo import base_warcinfo, software
from crawler.archive.writer import (
    RecordSpec,
    RotatingWarcWriter,
    WrittenRecord,
    new_record_id,
    utc_now,
    warc_fields,
)
from crawler.politeness.policy import warcinfo_policy_fields

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)

#: Sent after an exchange was written: ``request``, ``response``, ``records``
#: (the ``WrittenRecord`` list, the response record first) and ``spider``.
exchange_archived = object()
#: Sent for a response that was used but not archived as received: ``request``,
#: ``response``, ``reason`` (one of ``NOT_AS_RECEIVED``) and ``spider``.
exchange_not_archived = object()

NOT_DOWNLOADED = "not downloaded: made up before the downloader (e.g. Scrapy's HTTP cache)"
RENDERED = "rendered by a browser: the body is the rendered DOM, not the bytes received"
NOT_AS_RECEIVED = (NOT_DOWNLOADED, RENDERED)

MIDDLEWARE_ORDER = 950
"""Closest to the downloader: in the response direction it runs before
HttpCompression (590), Redirect (600) and HttpCache (900), so it sees every
response as received."""

# The settings the add-on reads, with the defaults crawler/settings.py gives
# them; an add-on sets them at "addon" priority, below a project's own.
ADDON_DEFAULTS: dict[str, Any] = {
    "ADARCHIVE_WARC_ENABLED": True,
    "ADARCHIVE_WARC_DIR": "warc",  # adarchive's crawls put it under their --out instead
    "ADARCHIVE_WARC_PREFIX": "adarchive",
    "ADARCHIVE_WARC_MAX_SIZE": 1_000_000_000,
    "ADARCHIVE_OPERATOR_CONTACT": "",
}
# warcio (and so every replay tool built on it) cannot decode zstd, which
# Scrapy 2.19 advertises: ask only for codings the archive can be read with.
ACCEPT_ENCODING = "gzip, deflate, br"


def plain_warcinfo(settings: BaseSettings, name: str) -> dict[str, object]:
    """The add-on's warcinfo in a project that is not adarchive: the User-Agent the project
    configured (request records show what each request really sent), no adarchive policy."""
    fields = base_warcinfo(settings, name, None)
    fields["http-header-user-agent"] = settings.get("USER_AGENT")
    return fields


def warcinfo_fields(
    settings: BaseSettings, platform: str, crawl_id: int | None
) -> dict[str, object]:
    """The warcinfo body, with the politeness layer's fields (robots override
    authority, User-Agent policy, budget, proxy)."""
    return base_warcinfo(settings, platform, crawl_id, warcinfo_policy_fields(settings, platform))


class WarcCapture:
    """The add-on: installs :class:`WarcCaptureMiddleware` and its defaults."""

    def update_settings(self, settings: BaseSettings) -> None:
        for name, value in ADDON_DEFAULTS.items():
            settings.set(name, value, priority="addon")
        headers = dict(settings.getdict("DEFAULT_REQUEST_HEADERS"))
        headers["Accept-Encoding"] = ACCEPT_ENCODING
        settings.set("DEFAULT_REQUEST_HEADERS", headers, priority="addon")
        settings.set_in_component_priority_dict(
            "DOWNLOADER_MIDDLEWARES", WarcCaptureMiddleware, MIDDLEWARE_ORDER
        )


def not_as_received(request: Request, response: Response, sent: weakref.WeakSet) -> str | None:
    """Why this response cannot be archived as received, or None when it can."""
    if request not in sent:
        return NOT_DOWNLOADED
    if request.meta.get("playwright") or "playwright" in response.flags:
        return RENDERED
    return None


def not_archived_note(request: Request, response: Response, reason: str) -> RecordSpec:
    """A metadata record that says a response was used but not archived, and why."""
    body = warc_fields(
        {
            "not-archived": reason,
            "method": request.method,
            "url": response.url,
            "status": response.status,
            "flags": " ".join(response.flags) or "-",
        }
    )
    return RecordSpec(
        kind="metadata", url=response.url, date=utc_now(), record_id=new_record_id(), payload=body
    )


class WarcDirError(RuntimeError):
    """The WARC directory cannot be written: the crawl must not start (or go on) unarchived."""


def writable_directory(path: Path) -> Path:
    """Create ``path`` and prove a file can be written there, or raise :class:`WarcDirError`."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".adarchive-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise WarcDirError(f"cannot write WARC files in {path}: {exc.strerror or exc}") from None
    return path


class WarcCaptureMiddleware:
    """Downloader middleware: every downloaded response into WARC files, as received."""

    def __init__(self, crawler: Crawler, writer: RotatingWarcWriter) -> None:
        self.crawler = crawler
        self.writer = writer
        self.stats = crawler.stats
        # Requests that really went to the downloader: a response made up by an
        # earlier middleware's process_request (e.g. a cache) is not archived.
        self._sent: weakref.WeakSet[Request] = weakref.WeakSet()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> WarcCaptureMiddleware:
        settings = crawler.settings
        if not settings.getbool("ADARCHIVE_WARC_ENABLED"):
            raise NotConfigured("ADARCHIVE_WARC_ENABLED is off")
        name = crawler.spidercls.name or "spider"
        # Checked before the first request: a crawl that cannot archive fetches nothing.
        directory = writable_directory(Path(settings.get("ADARCHIVE_WARC_DIR")))
        writer = RotatingWarcWriter(
            directory=directory,
            prefix=settings.get("ADARCHIVE_WARC_PREFIX"),
            max_size=settings.getint("ADARCHIVE_WARC_MAX_SIZE"),
            warcinfo=lambda: plain_warcinfo(settings, name),
        )
        middleware = cls(crawler, writer)
        crawler.signals.connect(middleware.spider_closed, signal=signals.spider_closed)
        return middleware

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        # Last before the downloader: whatever a project's DEFAULT_REQUEST_HEADERS say,
        # ask only for codings the archive can be replayed from (not zstd).
        request.headers[b"Accept-Encoding"] = ACCEPT_ENCODING
        self._sent.add(request)

    def process_response(
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Response:
        try:
            return self._capture(request, response, spider)
        except OSError as exc:
            # The archive cannot be written: stop, rather than go on using pages unarchived.
            logger.critical("WARC write failed, closing the spider: %s", exc)
            self._inc("adarchive/warc/write_failed")
            engine = self.crawler.engine
            if engine is not None:
                deferred_from_coro(engine.close_spider_async(reason="warc_write_failed"))
            raise IgnoreRequest(f"not archived, so not used: {exc}") from None

    def _capture(self, request: Request, response: Response, spider: Spider | None) -> Response:
        reason = not_as_received(request, response, self._sent)
        if reason is not None:
            self.writer.write(not_archived_note(request, response, reason))
            self._inc("adarchive/warc/not_as_received")
            self.crawler.signals.send_catch_log(
                exchange_not_archived, request=request, response=response, reason=reason,
                spider=spider,
            )  # fmt: skip
            return response
        written = self.write_exchange(request, response)
        self.crawler.signals.send_catch_log(
            exchange_archived, request=request, response=response, records=written, spider=spider
        )
        return response

    def write_exchange(self, request: Request, response: Response) -> list[WrittenRecord]:
        writer = self.writer
        ids = ExchangeIds(writer.new_record_id(), writer.new_record_id(), writer.new_record_id())
        name = self.crawler.spidercls.name or "spider"
        context = ExchangeContext(platform=name, crawl_id=None, spider=name, software=software())
        specs = build_exchange(request, response, ids=ids, fetched_at=writer.now(), context=context)
        written = writer.write_group(specs)
        self._inc("adarchive/warc/records", len(written))
        self._inc("adarchive/warc/bytes", sum(r.length for r in written))
        return written

    def spider_closed(self, spider: Spider, reason: str) -> None:
        closed = self.writer.close()
        if closed is not None:
            self._inc("adarchive/warc/files_closed")

    def _inc(self, key: str, count: int = 1) -> None:
        if self.stats is not None:
            self.stats.inc_value(key, count)
