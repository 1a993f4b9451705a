"""The evidence writer process: WARC records, capture rows, contacts and the store.

``python -m crawler.archive.sidecar_main`` is started by the crawl
(:mod:`crawler.archive.sidecar`) and fed length-prefixed pickles on stdin. For
each crawler of the crawl's process it keeps a *channel*: a rotating WARC
writer, a recorder on the same store, the revisit policy, the store pipeline
and the image store. Messages of one pipe are handled in the order sent, so a
response is always written (and its capture row known) before the advert read
from it arrives: adverts name their proof by WARC record id, resolved here.

Only a channel's ``close`` is answered (with the counts the crawl's stats and
crawl row need). The process commits whenever its input runs dry, so the
crawl's own rare writes (crawl rows, custody events) never wait long for the
store; on end of input (the crawl finished or died) it closes every WARC file
and commits, and exits. Ctrl-C and SIGTERM are the crawl's to handle: ignored here.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import pickle
import select
import signal
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from ipaddress import ip_address
from pathlib import Path
from typing import Any

from scrapy.http.headers import Headers
from scrapy.settings import Settings
from sqlalchemy import select as select_rows

from crawler.archive.middleware import add_exchange_captures, exchange_specs, warc_max_age
from crawler.archive.records import ExchangeIds
from crawler.archive.revisit import RevisitPolicy, RevisitWarcWriter
from crawler.archive.sidecar import EXTRACT_HERE, HEADER, ChannelConfig
from crawler.archive.warcinfo import software
from crawler.configuration import project_defaults
from crawler.extract.worker import identifiers_for
from crawler.heap import freeze_heap
from crawler.printable import install_log_escaping
from crawler.store.db import begin_sqlite_transaction
from crawler.store.models import Capture
from crawler.store.recorder import CrawlRecorder
from pipelines.contacts import extraction_args
from pipelines.images import ImageStore
from pipelines.store import StorePipeline, ad_not_stored

logger = logging.getLogger("crawler.archive.sidecar")

# Record ids of the newest response captures, per channel: adverts and their images
# arrive right after their page, so a short memory answers nearly every lookup;
# older ones are read back from the store.
RECENT_CAPTURES = 50_000
# Seconds without input after which pending rows are committed.
IDLE_COMMIT = 0.2
NEVER = 1 << 62
# Failed messages in a row after which the writer gives up (and the crawl stops).
MAX_FAILURES_IN_A_ROW = 20


class Counts(collections.Counter):
    """Crawler-stats-like counter (``inc_value``), sent back to the crawl at close."""

    def inc_value(self, key: str, count: int = 1, start: int = 0) -> None:
        self[key] += count


@dataclass
class Channel:
    """One crawler's evidence: its WARC files, captures, adverts and images."""

    config: ChannelConfig
    stats: Counts = field(default_factory=Counts)
    captures: collections.OrderedDict[str, int] = field(default_factory=collections.OrderedDict)

    def __post_init__(self) -> None:
        config = self.config
        self.recorder = CrawlRecorder.detached(
            db_url=config.db_url,
            data_root=Path(config.data_root),
            commit_every=config.commit_every,
            crawl_id=config.crawl_id,
            platform=config.platform,
            platform_id=config.platform_id,
            settings=Settings({**project_defaults(), **config.settings}),
            stats=self.stats,
        )
        recorder = self.recorder

        def on_close(closed: Any) -> None:
            if closed.warc_file_id is not None:
                recorder.warc_file_closed(closed.warc_file_id, closed.size, closed.sha256)
            self.stats.inc_value("adarchive/warc/files_closed")

        self.writer = RevisitWarcWriter(
            directory=Path(config.warc_dir),
            prefix=config.warc_prefix,
            max_size=config.warc_max_size,
            warcinfo=lambda: config.warcinfo,
            on_open=recorder.warc_file_opened,
            on_close=on_close,
            host=config.host,
            pid=config.pid,
            max_age=warc_max_age(recorder.crawler.settings),
        )
        recorder.add_commit_hook(self.writer.sync)
        self.policy = RevisitPolicy(recorder, self.stats) if config.revisits else None
        self.store = StorePipeline(recorder)
        self._images: ImageStore | None = None
        software()  # its package metadata read once, before the heap is frozen (freeze_heap)

    # -- messages ---------------------------------------------------------

    def exchange(self, payload: tuple) -> None:
        ids, fetched_at, request_facts, response_facts = payload
        request, response = rebuild_request(request_facts), rebuild_response(response_facts)
        # The rebuilt request and response stand in for Scrapy's (what build_exchange reads).
        record_ids = ExchangeIds(*ids)
        specs = exchange_specs(
            request, response, record_ids, fetched_at, self.recorder, self.policy
        )
        written = self.writer.write_group(specs)  # outside the savepoint: a rotation commits
        with self.savepoint():
            capture_id = add_exchange_captures(self.recorder, written)
        self.remember(written[0].record_id, capture_id)
        self.stats.inc_value("adarchive/warc/records", len(written))
        self.stats.inc_value("adarchive/warc/bytes", sum(r.length for r in written))

    def ad(self, fields: dict[str, Any]) -> None:
        try:
            if fields.get("identifiers") == EXTRACT_HERE:
                fields["identifiers"] = identifiers_for(*extraction_args(fields))
            if fields.get("capture_id") is None:
                fields["capture_id"] = self.capture_id(fields.get("capture_record_id"))
            with self.savepoint():
                self.store.store_ad(fields)
        except Exception as exc:
            # Counted after the savepoint has undone its own counts: the loss stays said.
            ad_not_stored(self.stats, fields, exc)
            raise

    def image(self, payload: tuple) -> None:
        platform, external_id, url, data, record_id, parent = payload
        images = self.images()
        ad_id = images.ad_id_for(platform, external_id)
        if ad_id is None:  # its advert was refused: nothing to link the image to
            self.stats.inc_value("adarchive/images/without_advert")
            return
        # The advert's page capture: a row id when it came from an earlier crawl (resume).
        parent_id = parent if isinstance(parent, int) else self.capture_id(parent)
        with self.savepoint():
            images.store_image(ad_id, url, data, self.capture_id(record_id), parent_id)

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """One exchange, advert or image the store refuses is undone alone: the
        captures and adverts before it, not yet committed, stay."""
        counted, stats = dict(self.recorder.stats), collections.Counter(self.stats)
        session, store = self.recorder.session, self.recorder.store
        begin_sqlite_transaction(session)
        # No commit inside the savepoint: it would end it. Due commits run after it.
        every, store.commit_every = store.commit_every, NEVER
        try:
            with session.begin_nested():
                yield
        except Exception:
            # What was undone is not counted, and cached ids may name rows that are gone.
            self.recorder.stats.update(counted)
            self.stats.clear()
            self.stats.update(stats)
            self.store.forget_cached_ids()
            raise
        finally:
            store.commit_every = every
        if store.pending >= every:
            store.commit()

    def close(self) -> dict[str, Any]:
        self.writer.close()
        self.recorder.remove_commit_hook(self.writer.sync)
        self.recorder.store.commit()
        counts = {"stats": dict(self.stats), "ads": dict(self.recorder.stats)}
        self.recorder.release()
        return counts

    # -- lookups ----------------------------------------------------------

    def remember(self, record_id: str, capture_id: int) -> None:
        self.captures[record_id] = capture_id
        if len(self.captures) > RECENT_CAPTURES:
            self.captures.popitem(last=False)

    def capture_id(self, record_id: str | None) -> int | None:
        """The capture row of a response written by this process (or found in the store)."""
        if not record_id:
            return None
        found = self.captures.get(record_id)
        if found is not None:
            return found
        return self.recorder.session.scalar(
            select_rows(Capture.id).where(Capture.record_id == record_id)
        )

    def images(self) -> ImageStore:
        if self._images is None:
            self._images = ImageStore.from_config(self.recorder, self.config.settings, self.stats)
        return self._images


@dataclass(eq=False)  # identity hashing: urlparse_cached keeps its cache per object
class SentRequest:
    """What :func:`build_exchange` reads of the request sent (a Scrapy request's
    constructor would re-check and re-escape the URL on every exchange)."""

    method: str
    url: str
    headers: Any
    body: bytes
    meta: dict[str, Any]


@dataclass(eq=False)
class ReceivedResponse:
    """What :func:`build_exchange` reads of the response received."""

    url: str
    status: int
    headers: Any
    body: bytes
    ip_address: Any
    protocol: str | None
    flags: list[str]


def rebuild_request(facts: tuple) -> SentRequest:
    method, url, headers, body, meta = facts
    return SentRequest(method, url, Headers(headers), body, meta)


def rebuild_response(facts: tuple) -> ReceivedResponse:
    url, status, headers, body, ip, protocol, flags = facts
    return ReceivedResponse(
        url, status, Headers(headers), body, ip_address(ip) if ip else None, protocol, flags
    )


class Sidecar:
    """The message loop: read frames, dispatch them, commit when the input runs dry."""

    def __init__(self, stdin: int, stdout: int) -> None:
        self.stdin = stdin
        self.stdout = stdout
        self.channels: dict[int, Channel] = {}
        self.buffer = bytearray()
        self.failures = 0
        self.next_rotation_check = 0.0

    def run(self) -> int:
        try:
            while True:
                message = self.next_message()
                if message is None:
                    break
                self.handle(message)
                self.rotate_due()
        except Exception:
            logger.critical("evidence writer failed:\n%s", traceback.format_exc())
            self.close_all()  # what was written stays usable: files closed, rows committed
            return 1
        self.close_all()  # end of input: close what is left, keep it all
        return 0

    def close_all(self) -> None:
        for key in list(self.channels):
            try:
                self.close_channel(key, reply=False)
            except Exception:
                logger.error("could not close channel %s:\n%s", key, traceback.format_exc())

    def next_message(self) -> Any:
        while True:
            if len(self.buffer) >= HEADER.size:
                (size,) = HEADER.unpack_from(self.buffer)
                end = HEADER.size + size
                if len(self.buffer) >= end:
                    data = bytes(self.buffer[HEADER.size : end])
                    del self.buffer[:end]
                    return pickle.loads(data)
            if not select.select([self.stdin], [], [], IDLE_COMMIT)[0]:
                # A pause in the input: commit, so the crawl's own writes (crawl rows,
                # custody events) never wait on this process's open transaction.
                self.commit_pending()
                self.rotate_due()
                continue  # waiting on, not blocked in read: the rotation timer keeps running
            chunk = os.read(self.stdin, 1 << 20)
            if not chunk:
                return None  # a partial frame at the end was never sent in full: dropped
            self.buffer += chunk

    def commit_pending(self) -> None:
        done: set[int] = set()
        for channel in self.channels.values():
            store = channel.recorder.store
            if store.pending and id(store) not in done:
                done.add(id(store))
                store.commit()

    def rotate_due(self) -> None:
        """Close (and so time-stamp) every WARC file whose oldest capture is nearly
        ADARCHIVE_WARC_MAX_AGE_MINUTES old: called between messages and whenever the
        input pauses, so an idle crawl keeps no file open past the bound."""
        now = time.monotonic()
        if now < self.next_rotation_check:
            return
        intervals = [c.writer.check_interval for c in self.channels.values()]
        self.next_rotation_check = now + min((i for i in intervals if i), default=IDLE_COMMIT)
        for channel in self.channels.values():
            channel.writer.close_if_due()  # its commits and custody events run here

    def handle(self, message: tuple) -> None:
        kind, key, payload = message
        if kind == "open":
            self.channels[key] = Channel(payload)
            freeze_heap(int(payload.settings.get("ADARCHIVE_GC_THRESHOLD") or 0))
            return
        if kind == "close":
            self.close_channel(key, reply=True)
            return
        channel = self.channels[key]
        try:
            getattr(channel, kind)(payload)
        except Exception:
            # One exchange, advert or image refused: say so, keep the rest of the crawl.
            channel.stats.inc_value("adarchive/sidecar/errors")
            logger.error("evidence writer: %s message failed\n%s", kind, traceback.format_exc())
            self.failures += 1
            if self.failures >= MAX_FAILURES_IN_A_ROW:
                # Not one bad page but a broken disk or store: archiving on is pretence.
                raise RuntimeError(f"{self.failures} messages in a row failed") from None
        else:
            self.failures = 0

    def close_channel(self, key: int, reply: bool) -> None:
        channel = self.channels.pop(key, None)
        counts = channel.close() if channel is not None else {"stats": {}, "ads": {}}
        if reply:
            data = pickle.dumps(counts, protocol=pickle.HIGHEST_PROTOCOL)
            write_all(self.stdout, HEADER.pack(len(data)) + data)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="adarchive evidence writer (run by a crawl)")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    # Stop signals are the crawl's to handle (a service manager signals the whole
    # process group): the writer ends when its input does, with every file closed.
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, signal.SIG_IGN)
    install_log_escaping()  # page-derived values reach the log: no control characters
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s [%(name)s] %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    # Replies go to the crawl on stdout; anything else printed there would corrupt them.
    out = os.dup(sys.stdout.fileno())
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    # Store plumbing (schema checks) says nothing a crawl's log needs.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return Sidecar(sys.stdin.fileno(), out).run()


if __name__ == "__main__":
    sys.exit(main())
