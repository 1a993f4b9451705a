"""The crawl's end of the evidence writer process (``ADARCHIVE_EVIDENCE_PROCESS``).

Writing evidence costs the crawl's one thread as much as fetching and parsing:
each response becomes three gzipped, SHA-256-digested WARC records and three
capture rows, each advert a contacts pass and a dozen rows. All of it is
deterministic work on what was received, so it runs in a child process
(:mod:`crawler.archive.sidecar_main`) on another core, fed through a pipe:

* the archive middleware sends each exchange (request and response as
  received, the pre-assigned record ids and the fetch time) and puts a
  :class:`PendingCapture` in the request's meta: the spider and pipelines
  know the response's WARC record id and time, not yet its row id;
* the store pipeline sends each advert, naming its proof by record id
  (``capture_record_id``), and the contacts pipeline leaves extraction to the
  writer (:data:`EXTRACT_HERE`); the images pipeline sends each image;
* before the crawl row is finished, the channel is closed: the writer closes
  the WARC files, commits, and answers with its counts for the crawl's stats.

Writes block when the pipe is full, so a writer that falls behind slows the
crawl rather than piling up memory. If the writer dies, the crawl is closed
(``evidence_writer_failed``): fetching on without archiving is not evidence.
Browser-rendered platforms keep archiving in the crawl's process: a page's
traffic is grouped there from the browser's own events (crawler/archive/browser.py).
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import logging
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from crawler.extract.worker import child_environment

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

HEADER = struct.Struct(">I")
# Closing a channel waits for the writer to drain the pipe, close and hash its files.
CLOSE_TIMEOUT = 600.0
# In place of an advert's identifiers sent to the writer: extract them there (the
# contacts pipeline asked for it through the channel). Never left on the item.
EXTRACT_HERE = "@extract-in-evidence-writer"
# Request meta the metadata record reads (crawler/archive/records.py).
RECORDED_META = ("adarchive_referer", "referer", "download_latency", "redirect_urls", "depth")


class EvidenceWriterGone(RuntimeError):
    """The writer process exited: what it was sent may not be on disk."""


@dataclass(frozen=True)
class PendingCapture:
    """What the crawl knows of a response capture the writer is making."""

    record_id: str
    fetched_at: datetime
    url: str
    kind: str = "response"


@dataclass(frozen=True)
class ChannelConfig:
    """Everything the writer needs to record one crawler's evidence."""

    db_url: str
    data_root: str
    commit_every: int
    crawl_id: int | None
    platform: str
    platform_id: int | None
    warc_dir: str
    warc_prefix: str
    warc_max_size: int
    warcinfo: dict[str, Any]
    revisits: bool
    host: str
    pid: int
    """The crawl's host name and process id, for WARC file names (not the writer's)."""
    settings: dict[str, Any]
    """The few settings read on the writer's side (TSA, known hashes, GC threshold)."""


WRITER_SETTINGS = (
    "ADARCHIVE_GC_THRESHOLD",
    "ADARCHIVE_TSA_URL",
    "ADARCHIVE_WARC_MAX_AGE_MINUTES",
    "ADARCHIVE_KNOWN_HASHES",
    "ADARCHIVE_KNOWN_PHASH_DISTANCE",
)


class EvidenceProcess:
    """One writer process, shared by every crawler of this process (one store session)."""

    _current: EvidenceProcess | None = None
    _live: set[int] = set()
    # How long a close waits for the writer's answer (shortened by a forced shutdown).
    close_timeout = CLOSE_TIMEOUT

    def __init__(self, log_level: str = "WARNING") -> None:
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "crawler.archive.sidecar_main", "--log-level", log_level],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=child_environment(),
            )
        except OSError as exc:
            raise EvidenceWriterGone(f"cannot start the evidence writer process: {exc}") from None
        assert self.process.stdin is not None and self.process.stdout is not None
        self._stdin = self.process.stdin.fileno()
        self._stdout = self.process.stdout.fileno()
        _widen_pipe(self._stdin)
        self._keys = itertools.count(1)
        self.channels: set[int] = set()
        self.gone = False
        EvidenceProcess._live.add(self.process.pid)

    @classmethod
    def shared(cls, log_level: str = "WARNING") -> EvidenceProcess:
        current = cls._current
        if current is None or current.gone:
            current = cls._current = cls(log_level)
            # However the crawl ends, it returns only once its evidence is on disk.
            atexit.register(current.stop)
        return current

    @classmethod
    def kill_all(cls) -> None:
        """For an exit at once (a second stop signal): the writers stop where they are,
        leaving ``*.open`` files for ``adarchive repair``. Safe in a signal handler."""
        for pid in list(cls._live):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    @classmethod
    def end_current(cls, timeout: float) -> None:
        """End the shared writer's input and wait (at most ``timeout``) for it to close its
        files: for a stop that cannot wait for the crawl's thread (crawler/shutdown.py)."""
        current = cls._current
        if current is not None:
            current.stop(timeout)

    def open_channel(self, config: ChannelConfig) -> int:
        key = next(self._keys)
        self.send(("open", key, config))
        self.channels.add(key)
        return key

    def send(self, message: tuple) -> None:
        if self.gone:
            raise EvidenceWriterGone("the evidence writer process has exited")
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(HEADER.pack(len(data)) + data)
        try:
            while view:
                view = view[os.write(self._stdin, view) :]
        except OSError as exc:
            self.gone = True
            raise EvidenceWriterGone(f"the evidence writer process has exited ({exc})") from None

    def close_channel(self, key: int) -> dict[str, Any]:
        """Close one channel; wait until its records and rows are committed; its counts."""
        self.send(("close", key, None))
        self.channels.discard(key)
        reply = self._read_reply()
        if not self.channels:
            self.stop()
        return reply

    def _read_reply(self) -> dict[str, Any]:
        data = self._read_exactly(HEADER.size)
        (size,) = HEADER.unpack(data)
        return pickle.loads(self._read_exactly(size))

    def _read_exactly(self, size: int) -> bytes:
        parts, wanted = [], size
        while wanted:
            if not select.select([self._stdout], [], [], self.close_timeout)[0]:
                logger.error("evidence writer gave no answer in %s s: stopped", self.close_timeout)
                self.process.kill()
                self.gone = True
                raise EvidenceWriterGone("the evidence writer process did not answer")
            chunk = os.read(self._stdout, min(wanted, 1 << 20))
            if not chunk:
                self.gone = True
                raise EvidenceWriterGone("the evidence writer process exited before answering")
            parts.append(chunk)
            wanted -= len(chunk)
        return b"".join(parts)

    def stop(self, timeout: float = CLOSE_TIMEOUT) -> int | None:
        """End of input: the writer closes what is open, commits and exits."""
        if EvidenceProcess._current is self:
            EvidenceProcess._current = None
        if self.process.returncode is not None:
            return self.process.returncode
        self.gone = True
        process = self.process
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            logger.error("evidence writer did not exit within %s s: killed", timeout)
            process.kill()
            return process.wait()
        finally:
            EvidenceProcess._live.discard(process.pid)


class SidecarChannel:
    """One crawler's channel to the writer process; built by the archive middleware."""

    ATTR = "_adarchive_sidecar_channel"

    def __init__(self, crawler: Crawler, config_for: Any) -> None:
        self.crawler = crawler
        self._config_for = config_for
        self.process: EvidenceProcess | None = None
        self.key: int | None = None
        self.store_attached = False
        # Set by the contacts pipeline: adverts are read for identifiers in the writer.
        self.extract_contacts = False
        self.closed = False
        self.failed = False

    @classmethod
    def for_crawler(cls, crawler: Crawler) -> SidecarChannel | None:
        """The crawler's channel, when its evidence goes to the writer process."""
        return getattr(crawler, cls.ATTR, None)

    def attach(self) -> None:
        setattr(self.crawler, self.ATTR, self)

    def open(self) -> None:
        """Start the writer (if this process has none yet) and open this crawler's channel.

        Called when the spider opens, after the crawl row exists, so the writer's
        imports and store connection are done before the first response arrives.
        A failure here is tried again, and reported, by the first :meth:`send`.
        """
        if self.key is None and not self.closed:
            with contextlib.suppress(EvidenceWriterGone):
                self._open()

    def _open(self) -> None:
        level = self.crawler.settings.get("LOG_LEVEL")
        self.process = EvidenceProcess.shared(level)
        self.key = self.process.open_channel(self._config_for())

    def send(self, kind: str, payload: Any) -> None:
        if self.closed:
            raise EvidenceWriterGone("evidence channel already closed")
        try:
            if self.key is None:
                self._open()
            assert self.process is not None and self.key is not None
            self.process.send((kind, self.key, payload))
        except EvidenceWriterGone as exc:
            self._writer_failed(exc)
            raise

    def send_exchange(
        self, request: Request, response: Response, ids: tuple[str, str, str], fetched_at: datetime
    ) -> PendingCapture:
        meta = request.meta
        request_facts = (
            request.method,
            request.url,
            list(request.headers.items()),
            request.body,
            {key: meta[key] for key in RECORDED_META if key in meta},
        )
        ip = response.ip_address
        response_facts = (
            response.url,
            response.status,
            list(response.headers.items()),
            response.body,
            str(ip) if ip is not None else None,
            response.protocol,
            list(response.flags),
        )
        self.send("exchange", (ids, fetched_at, request_facts, response_facts))
        return PendingCapture(ids[0], fetched_at, response.url)

    def close(self) -> dict[str, Any]:
        """Wait for the writer to finish this crawler's evidence; its counts."""
        if self.closed:
            return {}
        self.closed = True
        if self.key is None or self.process is None:
            return {}
        try:
            return self.process.close_channel(self.key)
        except EvidenceWriterGone as exc:
            self._writer_failed(exc)
            return {}

    def _writer_failed(self, exc: Exception) -> None:
        self.failed = True
        logger.critical(
            "%s: records sent to it may be missing (WARC files it left open can be "
            "checked with `adarchive repair`); closing the crawl",
            exc,
        )
        stats = self.crawler.stats
        if stats is not None:
            stats.set_value("adarchive/evidence_writer_failed", 1)
        engine = self.crawler.engine
        if engine is not None and not self.closed:
            self.closed = True
            from scrapy.utils.defer import deferred_from_coro

            deferred_from_coro(engine.close_spider_async(reason="evidence_writer_failed"))


def _widen_pipe(fd: int, size: int = 1 << 20) -> None:
    """Room for a burst of pages (Linux; 64 KiB elsewhere) before a write waits."""
    import fcntl

    setsize = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setsize is None:
        return
    # Above /proc/sys/fs/pipe-max-size it is refused: the default size works, only slower.
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, setsize, size)
