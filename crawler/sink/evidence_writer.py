"""The evidence writer process: WARC records, capture rows, adverts and images into the store.

``python -m crawler.sink.evidence_writer`` is started by the crawl's
writer-process sink (:mod:`crawler.sink.writer_process`) and fed
length-prefixed pickles of typed messages (:mod:`crawler.sink.messages`) on
stdin. For each crawler of the crawl's process it keeps a
:class:`CrawlerEvidence`: a rotating WARC writer, a recorder on the same store,
the revisit policy, the advert writer and the image store. Messages of one pipe are handled in the order sent, so a
response is always written (and its capture row known) before the advert read
from it arrives: adverts name their proof by WARC record id, resolved here.

Work is batched: an exchange's records are written to its WARC file at once,
but its capture rows, and the adverts and images that follow, wait for the
batch (:data:`BATCH` messages, or the input running dry, or a close); then the
capture rows go in (the request and metadata rows in one executemany), the
adverts and images after them, each in its own savepoint, and the batch is
committed once, on SQLite and PostgreSQL alike. Every commit first flushes and
fsyncs the WARC files (the recorder's commit hooks), so a capture row never
points at bytes not on disk.

Only the first :class:`OpenSink` (once ready) and :class:`CloseSink` (with the counts
the crawl's stats and crawl row need) are answered. The process commits whenever its input runs dry, so the
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select as select_rows

from crawler.archive.records import ExchangeIds
from crawler.archive.revisit import RevisitPolicy, RevisitWarcWriter
from crawler.archive.warcinfo import software
from crawler.configuration import project_defaults
from crawler.evidence.custody_listener import with_custody
from crawler.extract.helper_process import extraction_args, identifiers_for
from crawler.heap import freeze_heap
from crawler.printable import install_log_escaping
from crawler.sink.adverts import AdvertWriter, ad_not_stored
from crawler.sink.captures import (
    add_exchange_captures,
    add_exchanges_captures,
    exchange_specs,
)
from crawler.sink.image_store import ImageStore
from crawler.sink.messages import (
    HEADER,
    Advert,
    ChannelCounts,
    CloseSink,
    Exchange,
    ImageFetched,
    OpenSink,
    WriterConfig,
    encode_reply,
)
from crawler.sink.rotation import warc_max_age
from crawler.store.db import begin_sqlite_transaction, transient
from crawler.store.models import Capture
from crawler.store.recorder import CrawlRecorder

logger = logging.getLogger("crawler.sink.evidence_writer")

# Record ids of the newest response captures, per crawler: adverts and their images
# arrive right after their page (within a batch or two), so a short memory answers
# nearly every lookup; older ones are read back from the store (record_id is unique,
# so indexed). At 50,000 the map grew through any crawl shorter than that (issue 21).
RECENT_CAPTURES = 2_000
# Tries of one advert or image that lost a race with another writer (PostgreSQL deadlocks).
TRIES = 3
# Seconds without input after which pending rows are committed.
IDLE_COMMIT = 0.2
# Messages (exchanges, adverts, images) of one crawler per batch: one commit each.
BATCH = 200
NEVER = 1 << 62
# Failed messages in a row after which the writer gives up (and the crawl stops).
MAX_FAILURES_IN_A_ROW = 20
ERRORS = "adarchive/evidence_writer/errors"


class WriterSettings(dict):
    """The settings the writer's side reads (the crawl's
    :data:`~crawler.sink.messages.WRITER_SETTINGS` over the
    defaults) with the accessors it uses, as Scrapy's ``Settings`` answers them: a value of
    None reads as the default. Not Scrapy's class: importing it loads all of Scrapy, 0.2 s
    of CPU in every writer process for nothing else."""

    def get(self, name: str, default: Any = None) -> Any:
        value = super().get(name)
        return default if value is None else value

    def getfloat(self, name: str, default: float = 0.0) -> float:
        return float(self.get(name, default))


class Counts(collections.Counter):
    """Crawler-stats-like counter (``inc_value``), sent back to the crawl at close."""

    def inc_value(self, key: str, count: int = 1, start: int = 0) -> None:
        self[key] += count


@dataclass
class CrawlerEvidence:
    """One crawler's evidence in the writer: its WARC files, captures, adverts and images."""

    config: WriterConfig
    stats: Counts = field(default_factory=Counts)
    captures: collections.OrderedDict[str, int] = field(default_factory=collections.OrderedDict)

    def __post_init__(self) -> None:
        config = self.config
        self.recorder = with_custody(
            CrawlRecorder.detached(
                db_url=config.db_url,
                data_root=Path(config.data_root),
                commit_every=config.commit_every,
                crawl_id=config.crawl_id,
                platform=config.platform,
                platform_id=config.platform_id,
                settings=WriterSettings({**project_defaults(), **config.settings}),
                stats=self.stats,
            )
        )
        recorder = self.recorder

        def on_close(closed: Any) -> None:
            # Its records' rows go in with the commit that marks the file closed.
            self.record_captures()
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
        # The loop commits once per batch (WriterLoop.commit_pending), never a row at a time.
        recorder.store.commit_every = NEVER
        # Exchanges written to WARC whose capture rows wait for the batch; the adverts
        # and images that came after them, in order.
        self.unrecorded: list[list[Any]] = []
        self.deferred: list[Advert | ImageFetched] = []
        self.policy = RevisitPolicy(recorder, self.stats) if config.revisits else None
        self.adverts = AdvertWriter(recorder)
        self._images: ImageStore | None = None
        self.delay = float(config.settings.get("ADARCHIVE_EVIDENCE_WRITER_DELAY") or 0)
        software()  # its package metadata read once, before the heap is frozen (freeze_heap)

    # -- messages ---------------------------------------------------------

    def exchange(self, message: Exchange) -> None:
        # The rebuilt request and response stand in for Scrapy's (what build_exchange reads).
        request, response = message.request.rebuilt(), message.response.rebuilt()
        record_ids = ExchangeIds(*message.record_ids)
        specs = exchange_specs(
            request, response, record_ids, message.fetched_at, self.recorder, self.policy
        )
        written = self.writer.write_group(specs)  # a rotation commits: rows wait for the batch
        self.unrecorded.append(written)
        self.stats.inc_value("adarchive/warc/records", len(written))
        self.stats.inc_value("adarchive/warc/bytes", sum(r.length for r in written))

    @property
    def waiting(self) -> int:
        """Messages taken and not yet in the store."""
        return len(self.unrecorded) + len(self.deferred)

    def record_captures(self) -> None:
        """The capture rows of the exchanges written since the last batch."""
        groups, self.unrecorded = self.unrecorded, []
        if not groups:
            return
        try:
            with self.savepoint():
                heads = add_exchanges_captures(self.recorder, groups)
        except Exception:
            # One refused row must not cost the others: again, one exchange at a time.
            logger.warning("evidence writer: a capture batch was refused; row by row")
            heads = []
            for group in groups:
                try:
                    with self.savepoint():
                        heads.append(add_exchange_captures(self.recorder, group))
                except Exception:
                    self.stats.inc_value(ERRORS)
                    logger.error("evidence writer: capture rows refused\n%s",
                                 traceback.format_exc())  # fmt: skip
                    heads.append(None)
        for group, head in zip(groups, heads, strict=True):
            if head is not None:
                self.remember(group[0].record_id, head)

    def advert(self, message: Advert) -> None:
        fields = message.fields
        try:
            if message.extract_identifiers:
                fields["identifiers"] = identifiers_for(*extraction_args(fields))
            if fields.get("capture_id") is None:
                fields["capture_id"] = self.capture_id(fields.get("capture_record_id"))
            self.in_savepoint(lambda: self.adverts.store_ad(fields))
        except Exception as exc:
            # Counted after the savepoint has undone its own counts: the loss stays said.
            ad_not_stored(self.stats, fields, exc)
            raise

    def image(self, message: ImageFetched) -> None:
        images = self.images()
        ad_id = images.ad_id_for(message.platform, message.external_id)
        if ad_id is None:  # its advert was refused: nothing to link the image to
            self.stats.inc_value("adarchive/images/without_advert")
            return
        # The advert's page capture: a row id when it came from an earlier crawl (resume).
        parent = self.capture_id(message.parent)
        capture = self.capture_id(message.capture)
        self.in_savepoint(
            lambda: images.store_image(ad_id, message.url, message.data, capture, parent)
        )

    def in_savepoint(self, store: Callable[[], object]) -> None:
        """``store()`` in its own savepoint. On PostgreSQL two writers adding adverts that share
        identifiers or images can deadlock: the loser's savepoint is undone, the batch so far
        committed (which frees the rows the other writer waits for), and it tries again."""
        for attempt in range(1, TRIES + 1):
            try:
                with self.savepoint():
                    store()
                return
            except Exception as exc:
                if not transient(exc) or attempt == TRIES:
                    raise
                logger.warning(
                    "evidence writer: %s with another writer (try %d of %d): batch committed, "
                    "trying again", type(exc.__cause__ or exc).__name__, attempt, TRIES,
                )  # fmt: skip
                self.recorder.store.commit()

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
            self.adverts.forget_cached_ids()
            raise
        finally:
            store.commit_every = every
        if store.pending >= every:
            store.commit()

    def close(self) -> ChannelCounts:
        self.writer.close()
        self.recorder.remove_commit_hook(self.writer.sync)
        self.recorder.store.commit()
        counts = ChannelCounts(stats=dict(self.stats), ads=dict(self.recorder.stats))
        self.recorder.release()
        return counts

    # -- lookups ----------------------------------------------------------

    def remember(self, record_id: str, capture_id: int) -> None:
        self.captures[record_id] = capture_id
        if len(self.captures) > RECENT_CAPTURES:
            self.captures.popitem(last=False)

    def capture_id(self, capture: int | str | None) -> int | None:
        """The capture row of a response written by this process (or found in the store),
        from its WARC record id; a row id is taken as it is."""
        if not capture or isinstance(capture, int):
            return capture or None
        found = self.captures.get(capture)
        if found is not None:
            return found
        return self.recorder.session.scalar(
            select_rows(Capture.id).where(Capture.record_id == capture)
        )

    def images(self) -> ImageStore:
        if self._images is None:
            self._images = ImageStore.from_config(self.recorder, self.config.settings, self.stats)
        return self._images


HANDLERS = {Exchange: CrawlerEvidence.exchange, Advert: CrawlerEvidence.advert,
            ImageFetched: CrawlerEvidence.image}  # fmt: skip


class WriterLoop:
    """The message loop: read frames, dispatch them, commit when the input runs dry."""

    def __init__(self, stdin: int, stdout: int) -> None:
        self.stdin = stdin
        self.stdout = stdout
        self.crawlers: dict[int, CrawlerEvidence] = {}
        self.buffer = bytearray()
        self.failures = 0
        self.next_rotation_check = 0.0

    def run(self) -> int:
        try:
            while True:
                message = self.next_message()
                if message is None:
                    break
                self.handle(*message)
                self.rotate_due()
        except Exception:
            logger.critical("evidence writer failed:\n%s", traceback.format_exc())
            self.close_all()  # what was written stays usable: files closed, rows committed
            return 1
        self.close_all()  # end of input: close what is left, keep it all
        return 0

    def close_all(self) -> None:
        for key in list(self.crawlers):
            try:
                self.close_sink(key, reply=False)
            except Exception:
                logger.error("could not close sink %s:\n%s", key, traceback.format_exc())

    def next_message(self) -> tuple[int, Any] | None:
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
        """Every crawler's batch into the store, then one commit per store."""
        done: set[int] = set()
        for evidence in list(self.crawlers.values()):
            self.flush(evidence)
        for evidence in self.crawlers.values():
            store = evidence.recorder.store
            if store.pending and id(store) not in done:
                done.add(id(store))
                store.commit()

    def flush(self, evidence: CrawlerEvidence) -> None:
        """The batch's capture rows, then its adverts and images, in the order sent."""
        evidence.record_captures()
        deferred, evidence.deferred = evidence.deferred, []
        for message in deferred:
            self.dispatch(evidence, message)

    def handle(self, key: int, message: Any) -> None:
        if isinstance(message, OpenSink):
            self.crawlers[key] = CrawlerEvidence(message.config)
            freeze_heap(int(message.config.settings.get("ADARCHIVE_GC_THRESHOLD") or 0))
            if message.answer:  # ready: the crawl may start fetching
                write_all(self.stdout, encode_reply(key))
            return
        if isinstance(message, CloseSink):
            self.close_sink(key, reply=True)
            return
        evidence = self.crawlers[key]
        if evidence.delay:
            time.sleep(evidence.delay)  # test hook: a writer slower than the crawl
        if isinstance(message, Exchange):
            self.dispatch(evidence, message)  # on disk now, its rows with the batch
        else:
            evidence.deferred.append(message)
        if evidence.waiting >= BATCH:
            self.commit_pending()

    def rotate_due(self) -> None:
        """Close (and so time-stamp) every WARC file whose oldest capture is nearly
        ADARCHIVE_WARC_MAX_AGE_MINUTES old: called between messages and whenever the
        input pauses, so an idle crawl keeps no file open past the bound."""
        now = time.monotonic()
        if now < self.next_rotation_check:
            return
        intervals = [e.writer.check_interval for e in self.crawlers.values()]
        self.next_rotation_check = now + min((i for i in intervals if i), default=IDLE_COMMIT)
        for evidence in self.crawlers.values():
            evidence.writer.close_if_due()  # its pending rows, commits and custody events run here

    def dispatch(self, evidence: CrawlerEvidence, message: Any) -> None:
        try:
            HANDLERS[type(message)](evidence, message)
        except Exception:
            # One exchange, advert or image refused: say so, keep the rest of the crawl.
            evidence.stats.inc_value(ERRORS)
            logger.error(
                "evidence writer: %s message failed\n%s",
                type(message).__name__,
                traceback.format_exc(),
            )
            self.failures += 1
            if self.failures >= MAX_FAILURES_IN_A_ROW:
                # Not one bad page but a broken disk or store: archiving on is pretence.
                raise RuntimeError(f"{self.failures} messages in a row failed") from None
        else:
            self.failures = 0

    def close_sink(self, key: int, reply: bool) -> None:
        evidence = self.crawlers.get(key)
        if evidence is not None:
            self.flush(evidence)
        evidence = self.crawlers.pop(key, None)
        counts = evidence.close() if evidence is not None else ChannelCounts()
        if reply:
            write_all(self.stdout, encode_reply(counts))


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
    return WriterLoop(sys.stdin.fileno(), out).run()


if __name__ == "__main__":
    sys.exit(main())
