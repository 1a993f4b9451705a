"""The sink that hands evidence to the evidence writer process (``ADARCHIVE_EVIDENCE_PROCESS``).

Writing evidence costs the crawl's one thread as much as fetching and parsing:
each response becomes three gzipped, SHA-256-digested WARC records and three
capture rows, each advert a dozen rows. All of it is deterministic work on
what was received, so it runs in a child process, the *evidence writer*
(:mod:`crawler.sink.evidence_writer`), on another core, fed through a pipe
with the typed messages of :mod:`crawler.sink.messages`:

* the archive middleware hands over each exchange (request and response as
  received, the pre-assigned record ids and the fetch time) and puts a
  :class:`PendingCapture` in the request's meta: the spider and pipelines
  know the response's WARC record id and time, not yet its row id;
* the store pipeline hands over each advert, naming its proof by record id
  (``capture_record_id``), with its identifiers already on it (extracted by
  the extraction helper process, so feeds carry them); the images pipeline
  hands over each image;
* before the crawl row is finished, the sink is closed: the writer closes the
  WARC files, commits, and answers with its counts for the crawl's stats.

The pipe is written by a thread of its own (:class:`PipeFeeder`): the crawl's
thread only queues, and the queue keeps flowing while that thread is busy. Above
``ADARCHIVE_EVIDENCE_QUEUE_MAX`` queued bytes the engines are paused (no new
downloads) until half of it has drained: a writer that falls behind slows the
crawl, never blocks the reactor, and nothing is dropped. If the writer dies,
the crawl is closed (``evidence_writer_failed``): fetching on without
archiving is not evidence. Browser-rendered platforms use the in-process sink:
a page's traffic is grouped from the browser's own events in the crawl.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import errno
import itertools
import logging
import os
import pickle
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from crawler.archive.writer import new_record_id, utc_now
from crawler.extract.helper_process import child_environment
from crawler.sink.evidence_sink import Captured, EvidenceSink, PageCaptured
from crawler.sink.messages import (
    HEADER,
    Advert,
    ChannelCounts,
    CloseSink,
    EvidenceWriterGone,
    Exchange,
    ImageFetched,
    OpenSink,
    PendingCapture,
    ReceivedResponse,
    SentRequest,
    WriterConfig,
    encode_frame,
)
from crawler.sink.writer_fork import ForkedWriter, end_input_and_wait, take_spare

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

    from crawler.archive.writer import RecordSpec

logger = logging.getLogger(__name__)

# Closing a channel waits for the writer to drain the pipe, close and hash its files.
CLOSE_TIMEOUT = 600.0
_RETRY = (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR)


def _running_reactor() -> Any:
    """The Twisted reactor if one is running in this process (never installs one)."""
    reactor = sys.modules.get("twisted.internet.reactor")
    return reactor if reactor is not None and getattr(reactor, "running", False) else None


class PipeFeeder:
    """Writes to one pipe from a thread of its own; the crawl's thread only queues.

    The reactor never waits on the pipe, and what is queued keeps flowing to the
    writer while the crawl's thread is held by a long parse step: a stop that
    cannot wait for that thread (crawler/shutdown.py) still finds the evidence
    in the writer, not in this process's memory. ``on_pressure(True)`` is called
    (in the reactor's thread when one runs) when more than ``limit`` bytes wait,
    ``on_pressure(False)`` when no more than half of it does.
    """

    def __init__(self, fd: int, limit: int, on_pressure: Callable[[bool], None]) -> None:
        self.fd = fd
        self.limit = max(1, limit)
        self.on_pressure = on_pressure
        self.queue: collections.deque[bytes | memoryview] = collections.deque()
        self.queued = 0
        """Bytes not yet in the pipe (the chunk being written included)."""
        self.most_queued = 0
        self.pressed = False
        self.gone: str | None = None
        self._writing = False
        self._ready = threading.Condition()
        os.set_blocking(fd, False)
        self._thread = threading.Thread(target=self._run, name="evidence-writer-pipe", daemon=True)
        self._thread.start()

    # -- the crawl's side ---------------------------------------------------

    def write(self, data: bytes | memoryview) -> None:
        with self._ready:
            if self.gone is not None:
                raise EvidenceWriterGone(f"the evidence writer process has exited ({self.gone})")
            if not self.queue and not self._writing:
                # The pipe has room most of the time: write what fits now, in order,
                # without waiting (the fd is non-blocking); the thread takes the rest.
                try:
                    rest = self._write_now(memoryview(data))
                except OSError as exc:
                    self._lost(str(exc))
                    raise EvidenceWriterGone(
                        f"the evidence writer process has exited ({exc})"
                    ) from None
                if not rest:
                    return
                data = rest
            self.queue.append(data)
            self.queued += len(data)
            self.most_queued = max(self.most_queued, self.queued)
            self._ready.notify_all()
        self._check_pressure()

    def drain(self, timeout: float) -> None:
        """Wait until everything queued is in the pipe (at the end of a crawl)."""
        deadline = time.monotonic() + timeout
        with self._ready:
            while (self.queue or self._writing) and self.gone is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._lost("the evidence writer took no input")
                    break
                self._ready.wait(left)
            gone = self.gone
        if gone is not None:
            raise EvidenceWriterGone(f"the evidence writer process took no input ({gone})")
        # Resuming the engine belongs to the reactor's thread (a stop drains from another).
        self._in_reactor(self._check_pressure)

    def close(self) -> None:
        """No more input: the writing thread ends (what is still queued is dropped)."""
        with self._ready:
            self._lost("closed")

    # -- the writing thread ---------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self.queue and self.gone is None:
                    self._ready.wait()
                if self.gone is not None:
                    return
                chunk = self.queue.popleft()
                self._writing = True
            try:
                view = memoryview(chunk)
                while view:
                    select.select([], [self.fd], [], 1.0)
                    view = self._write_now(view)
            except OSError as exc:
                with self._ready:
                    self._writing = False
                    self._lost(str(exc))
                return
            with self._ready:
                self._writing = False
                self.queued -= len(chunk)
                self._ready.notify_all()
            if self.pressed and self.queued <= self.limit // 2:
                self._in_reactor(self._check_pressure)

    def _write_now(self, view: memoryview) -> memoryview:
        """Write what the pipe takes without waiting; the rest (OSError if the writer is gone)."""
        while view:
            try:
                view = view[os.write(self.fd, view) :]
            except OSError as exc:
                if exc.errno in _RETRY:
                    return view
                raise
        return view

    def _in_reactor(self, call: Callable[[], None]) -> None:
        reactor = _running_reactor()
        if reactor is None:
            call()
        else:
            reactor.callFromThread(call)

    def _check_pressure(self) -> None:
        if not self.pressed and self.queued > self.limit:
            self.pressed = True
            self.on_pressure(True)
        elif self.pressed and self.queued <= self.limit // 2:
            self.pressed = False
            self.on_pressure(False)

    def _lost(self, why: str) -> None:
        """Under ``_ready``: the writer is gone; nothing more is written."""
        if self.gone is None:
            self.gone = why
        self.queue.clear()
        self.queued = 0
        self._ready.notify_all()


class EvidenceWriterProcess:
    """One evidence writer process, shared by every crawler of this process."""

    _current: EvidenceWriterProcess | None = None
    _live: set[int] = set()
    # How long a close waits for the writer's answer (shortened by a forced shutdown).
    close_timeout = CLOSE_TIMEOUT

    def __init__(
        self,
        log_level: str = "WARNING",
        *,
        pipe_size: int = 1 << 20,
        queue_max: int = 2 << 20,
        fork: bool = True,
    ) -> None:
        try:
            spare = take_spare(log_level) if fork else None
            if spare is not None:  # forked before the crawl started (writer_fork.py)
                self.process: subprocess.Popen[bytes] | ForkedWriter = spare
            else:
                self.process = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "crawler.sink.evidence_writer",
                        "--log-level",
                        log_level,
                    ],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    env=child_environment(),
                )
        except OSError as exc:
            raise EvidenceWriterGone(f"cannot start the evidence writer process: {exc}") from None
        assert self.process.stdin is not None and self.process.stdout is not None
        self._stdin = self.process.stdin.fileno()
        self._stdout = self.process.stdout.fileno()
        _size_pipe(self._stdin, pipe_size)
        self.feeder = PipeFeeder(self._stdin, queue_max, self._pressure)
        self._keys = itertools.count(1)
        self.sinks: dict[int, WriterProcessSink | None] = {}
        self.gone = False
        self.started = False  # the writer answered its first OpenSink: imports done
        EvidenceWriterProcess._live.add(self.process.pid)

    @classmethod
    def shared(cls, log_level: str = "WARNING", **options: Any) -> EvidenceWriterProcess:
        current = cls._current
        if current is None or current.gone:
            current = cls._current = cls(log_level, **options)
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

    def open_channel(self, config: WriterConfig, sink: WriterProcessSink | None = None) -> int:
        """Open one crawler's sink in the writer; wait until the writer has taken it
        (imports done, store open), so the crawl never runs ahead of a writer still
        starting: a stop soon after the start finds the writer ready to close."""
        key = next(self._keys)
        first = not self.started
        self.send(key, OpenSink(key, config, answer=first))
        if first:  # later crawlers of this process find the writer up
            try:
                self.feeder.drain(self.close_timeout)
            except EvidenceWriterGone:
                self.gone = True
                raise
            self._read_reply()
            self.started = True
        self.sinks[key] = sink
        return key

    def send(self, key: int, message: Any) -> None:
        if self.gone:
            raise EvidenceWriterGone("the evidence writer process has exited")
        try:
            self.feeder.write(encode_frame(key, message))
        except EvidenceWriterGone:
            self.gone = True
            raise

    def _pressure(self, on: bool) -> None:
        for sink in list(self.sinks.values()):
            if sink is not None:
                sink.backpressure(on)

    def close_channel(self, key: int) -> ChannelCounts:
        """Close one channel; wait until its records and rows are committed; its counts."""
        self.send(key, CloseSink(key))
        self.sinks.pop(key, None)
        try:
            self.feeder.drain(self.close_timeout)
        except EvidenceWriterGone:
            self.gone = True
            raise
        reply = self._read_reply()
        if not self.sinks:
            self.stop()
        return reply

    def _read_reply(self) -> Any:
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
        """End of input: the writer writes what is queued, closes, commits and exits."""
        if EvidenceWriterProcess._current is self:
            EvidenceWriterProcess._current = None
        if self.process.returncode is not None:
            return self.process.returncode
        if not self.gone:
            with contextlib.suppress(EvidenceWriterGone):
                self.feeder.drain(timeout)
        self.feeder.close()
        self.gone = True
        try:
            return end_input_and_wait(self.process, timeout)
        finally:
            EvidenceWriterProcess._live.discard(self.process.pid)


class WriterProcessSink(EvidenceSink):
    """One crawler's channel to the evidence writer process; made by the archive middleware."""

    out_of_process = True

    def __init__(self, crawler: Crawler, config_for: Callable[[], WriterConfig]) -> None:
        self.crawler = crawler
        self._config_for = config_for
        self.process: EvidenceWriterProcess | None = None
        self.key: int | None = None
        self.closed = False
        self.failed = False
        self.paused = False

    def open(self) -> None:
        """Start the writer (if this process has none yet) and open this crawler's sink in it.

        Called when the spider opens, after the crawl row exists; waits until the
        writer is ready, so its imports and store connection are done before the
        first request is sent.
        A failure here is tried again, and reported, by the first send.
        """
        if self.key is None and not self.closed:
            with contextlib.suppress(EvidenceWriterGone):
                self._open()

    def _open(self) -> None:
        settings = self.crawler.settings
        self.process = EvidenceWriterProcess.shared(
            settings.get("LOG_LEVEL"),
            pipe_size=settings.getint("ADARCHIVE_EVIDENCE_PIPE_SIZE"),
            queue_max=settings.getint("ADARCHIVE_EVIDENCE_QUEUE_MAX"),
            fork=settings.getbool("ADARCHIVE_EVIDENCE_WRITER_FORK"),
        )
        self.key = self.process.open_channel(self._config_for(), self)

    def send(self, message: Any) -> None:
        if self.closed:
            raise EvidenceWriterGone("evidence sink already closed")
        try:
            if self.key is None:
                self._open()
            assert self.process is not None and self.key is not None
            self.process.send(self.key, message)
        except EvidenceWriterGone as exc:
            self._writer_failed(exc)
            raise

    # -- the sink ---------------------------------------------------------------

    def record_exchange(self, request: Request, response: Response) -> Captured:
        ids = (new_record_id(), new_record_id(), new_record_id())
        fetched_at = utc_now()
        self.send(Exchange(ids, fetched_at, SentRequest.of(request), ReceivedResponse.of(response)))
        return Captured(PendingCapture(ids[0], fetched_at, response.url))

    def record_item(self, fields: dict[str, Any]) -> None:
        self.send(Advert(fields))

    def record_image(self, image: ImageFetched) -> None:
        self.send(image)

    def record_browser_page(self, specs: list[RecordSpec]) -> PageCaptured:
        raise NotImplementedError(
            "browser-rendered platforms use the in-process sink (crawler/sink/in_process.py)"
        )

    def flush(self) -> None:
        """The writer commits whenever its input runs dry; nothing to ask of it."""

    def close(self) -> ChannelCounts:
        """Wait for the writer to finish this crawler's evidence; its counts."""
        if self.closed:
            return ChannelCounts()
        self.closed = True
        if self.paused:
            self.backpressure(False)
        if self.key is None or self.process is None:
            return ChannelCounts()
        self._note_queue()
        try:
            return self.process.close_channel(self.key)
        except EvidenceWriterGone as exc:
            self._writer_failed(exc)
            return ChannelCounts()

    # -- back-pressure and failure ---------------------------------------------

    def backpressure(self, on: bool) -> None:
        """Pause this crawler's engine while the writer's queue is over its bound."""
        engine = self.crawler.engine
        stats = self.crawler.stats
        if on == self.paused:
            return
        self.paused = on
        if on:
            logger.info("evidence writer behind: downloads paused until it catches up")
            if stats is not None:
                stats.inc_value("adarchive/evidence/backpressure_pauses")
            if engine is not None:
                engine.pause()
            return
        if engine is not None:
            engine.unpause()
            slot = getattr(engine, "_slot", None)  # start the scheduled requests now
            if slot is not None:
                slot.nextcall.schedule()
        self._note_queue()

    def _note_queue(self) -> None:
        stats = self.crawler.stats
        if stats is not None and self.process is not None:
            stats.max_value("adarchive/evidence/queue_max_bytes", self.process.feeder.most_queued)

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
            if self.paused:
                self.paused = False
                engine.unpause()
            from scrapy.utils.defer import deferred_from_coro

            deferred_from_coro(engine.close_spider_async(reason="evidence_writer_failed"))


def _size_pipe(fd: int, size: int) -> None:
    """Room for a burst of pages (Linux; 64 KiB elsewhere) before writes queue in memory."""
    import fcntl

    setsize = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setsize is None or size <= 0:
        return
    # Above /proc/sys/fs/pipe-max-size it is refused: the default size works, only slower.
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, setsize, size)
