"""Stop a crawl on SIGTERM / Ctrl-C within seconds, even with downloads in flight.

Scrapy's own first-signal shutdown waits for every in-flight download, and a
server that drips one byte a second holds it for the whole download timeout;
its second signal stops the reactor without closing WARC files. Here:

1. First signal: every spider is closed with reason ``shutdown`` (no new
   requests). After ``ADARCHIVE_SHUTDOWN_GRACE`` seconds the downloads still
   in flight are abandoned (their connections aborted) and logged by URL;
   the normal close then runs: WARC files are closed and hashed, the crawl
   row says ``interrupted`` and the custody log gets ``crawl.stop`` and
   ``crawl.finished``.
2. Should that still not be done by ``ADARCHIVE_SHUTDOWN_TIMEOUT`` seconds,
   WARC files and crawl rows are closed directly and the process exits.
3. A second signal exits at once (status 130). What is on disk is then the
   crash-safe state: captures committed only after their records were
   fsynced, ``*.open`` files that ``adarchive repair`` completes.

Steps 1 and 2 run in the reactor's thread, which a busy parse step (a page of
hundreds of thousands of links) can hold for longer than the timeout. A
watchdog thread, started by the first signal, covers that: if the reactor has
not even begun the stop within :data:`WATCHDOG_STUCK` seconds, or the crawl
is still running at ``ADARCHIVE_SHUTDOWN_TIMEOUT`` plus a second, it closes
the WARC files from its own thread (the evidence writer gets its end of input
and closes its files; in-process writers are closed directly) and exits, so a
stop signal ends a crawl within about ten seconds whatever its thread is
doing. Before it exits it marks the crawl row ``interrupted`` (finish state
``stopped``, reason ``shutdown``, the last progress counts) on a database
connection of its own, given :data:`WATCHDOG_STORE_WAIT` seconds: a store
that cannot answer in time leaves the row ``running``, for ``--resume`` and
the scheduler to mark ``interrupted`` later.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from scrapy import signals

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

EXIT_STATUS = 130
# Seconds the reactor may take to begin a requested stop before the watchdog
# takes it as stuck in a busy step and closes the files itself.
WATCHDOG_STUCK = 4.0
# How long the watchdog waits for the evidence writer to close its files.
WATCHDOG_WRITER_WAIT = 3.0
# How long the watchdog may spend marking the crawl rows stopped.
WATCHDOG_STORE_WAIT = 2.0
_state: dict[str, Any] = {"requested": None, "coordinator": None, "signal": None}


def shutdown_requested() -> bool:
    """Whether a stop signal arrived (components waiting on their own timers check this)."""
    return _state["requested"] is not None


def stop_signal() -> int | None:
    """The first stop signal received (its number), for the exit status 128 + N."""
    return _state["signal"]


class _Coordinator:
    """One per process: owns the signal handlers and every running crawler."""

    def __init__(self, grace: float, timeout: float) -> None:
        self.grace = grace
        self.timeout = timeout
        self.crawlers: list[Crawler] = []
        self.signals = 0
        self.installed = False
        self.begun = threading.Event()

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        self.installed = True

    def _on_signal(self, signum: int, _frame: Any) -> None:
        # A signal handler must not log (the interrupted code may hold the stream).
        self.signals += 1
        if self.signals > 1:
            os.write(2, b"adarchive: second stop signal: exiting now (crash-safe state)\n")
            _kill_evidence_writers()
            os._exit(EXIT_STATUS)
        _state["requested"] = time.monotonic()
        _state["signal"] = signum
        from twisted.internet import reactor

        reactor.callFromThread(self.begin, signum)
        threading.Thread(target=self._watchdog, name="adarchive-stop-watchdog", daemon=True).start()

    def _watchdog(self) -> None:
        """From its own thread: close the files and exit if the reactor cannot stop in time."""
        stuck = not self.begun.wait(WATCHDOG_STUCK)
        if not stuck:  # the reactor's own force() exits at the timeout; this is its backstop
            time.sleep(max(0.0, self.timeout + 1.0 - WATCHDOG_STUCK))
        why = "busy (a parse step holds it)" if stuck else "not done"
        os.write(2, f"adarchive: crawl thread {why}: closing WARC files and exiting\n".encode())
        for crawler in self.crawlers:
            _close_writers(crawler)
        module = sys.modules.get("crawler.sink.writer_process")
        if module is not None:  # end of input: the writer closes its files, commits, exits
            with contextlib.suppress(Exception):
                module.EvidenceWriterProcess.end_current(WATCHDOG_WRITER_WAIT)
        marker = threading.Thread(
            target=self._mark_stopped, name="adarchive-stop-mark", daemon=True
        )
        marker.start()
        marker.join(WATCHDOG_STORE_WAIT)
        _exit_now()

    def _mark_stopped(self) -> None:
        for crawler in self.crawlers:
            try:
                crawl_id = _mark_stopped_directly(crawler)
            except Exception as exc:  # noqa: BLE001 - the exit must happen whatever the store says
                os.write(2, f"adarchive: could not mark the crawl stopped: {exc}\n".encode())
                continue
            if crawl_id is not None:
                os.write(2, f"adarchive: crawl {crawl_id} marked interrupted (stopped)\n".encode())

    def begin(self, signum: int) -> None:
        self.begun.set()
        name = signal.Signals(signum).name
        logger.warning(
            "received %s: stopping; downloads still running in %.0fs are abandoned "
            "(send it again to exit at once)",
            name,
            self.grace,
        )
        from scrapy.utils.defer import deferred_from_coro
        from twisted.internet import reactor

        for crawler in self.crawlers:
            engine = crawler.engine
            if engine is None or engine.spider is None:
                continue
            crawler.stats.set_value("adarchive/shutdown/signal", name)
            _custody(crawler, "crawl.stop", {"signal": name, "stage": "requested"})
            deferred_from_coro(engine.close_spider_async(reason="shutdown"))
        reactor.callLater(self.grace, self.abandon_in_flight)
        reactor.callLater(self.timeout, self.force)

    def abandon_in_flight(self, rounds: int = 0) -> None:
        """Refuse what waits in download slots, abort running downloads, log each URL.

        Repeated every half second until the spiders have closed: a request
        that was already past the slot when the first round ran is caught by
        the next.
        """
        from twisted.internet import reactor

        from crawler.politeness.refusals import refuse_queued

        still_open = False
        for crawler in self.crawlers:
            engine = crawler.engine
            if engine is None or engine.spider is None:
                continue
            still_open = True
            refuse_queued(crawler, "shutdown", "the crawl is stopping")
            urls = sorted(r.url for r in engine.downloader.active)
            for url in urls:
                logger.warning("abandoned in-flight request %s", url)
            if urls:
                crawler.stats.inc_value("adarchive/shutdown/abandoned", len(urls))
                crawler.stats.set_value("adarchive/shutdown/abandoned_urls", urls[:50])
                _custody(crawler, "crawl.stop", {"stage": "abandoned", "urls": urls[:200]})
        if not still_open:
            return
        for transport in _client_transports(reactor):
            transport.abortConnection()
        if rounds < 20:
            reactor.callLater(0.5, self.abandon_in_flight, rounds + 1)

    def force(self) -> None:
        """Last resort: close WARC files and crawl rows directly, then exit."""
        from twisted.internet import reactor

        pending = [c for c in self.crawlers if c.engine is not None and c.engine.spider]
        if not pending:
            return
        logger.error("crawl did not stop within %.0fs: closing files and exiting", self.timeout)
        module = sys.modules.get("crawler.sink.writer_process")
        if module is not None:  # the evidence writer gets a short while to close its files
            module.EvidenceWriterProcess.close_timeout = 10.0
        for crawler in pending:
            _finish_directly(crawler)
        reactor.callLater(1.0, _exit_now)
        try:
            reactor.stop()
        except Exception:  # noqa: BLE001 - already stopping
            _exit_now()


def _kill_evidence_writers() -> None:
    """An exit at once stops the evidence writer process too (crawler/sink/writer_process.py):
    what is on disk is then the crash-safe state, whichever process got further."""
    module = sys.modules.get("crawler.sink.writer_process")
    if module is not None:
        module.EvidenceWriterProcess.kill_all()


def _exit_now() -> None:
    _kill_evidence_writers()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_STATUS)


def _client_transports(reactor: Any) -> list[Any]:
    """TCP client connections of this reactor: the downloads (nothing else here is TCP)."""
    from twisted.internet.tcp import Client

    readers = list(reactor.getReaders()) + list(reactor.getWriters())
    return [t for t in dict.fromkeys(readers) if isinstance(t, Client)]


def _close_writers(crawler: Crawler) -> None:
    """Close the WARC files written in this process (browser platforms, or no writer process)."""
    engine = crawler.engine
    if engine is None:
        return
    for mw in getattr(engine.downloader.middleware, "middlewares", ()):
        # The add-on's own writer, or the in-process evidence sink's (crawler/sink/).
        writer = getattr(mw, "writer", None) or getattr(getattr(mw, "sink", None), "writer", None)
        if writer is not None and hasattr(writer, "close"):
            try:
                writer.close()
            except Exception:
                logger.exception("could not close the WARC file")


def _finish_directly(crawler: Crawler) -> None:
    from crawler.store.recorder import CrawlRecorder

    _close_writers(crawler)
    recorder = getattr(crawler, CrawlRecorder.ATTR, None)
    if recorder is not None:
        try:
            recorder.finish_crawl("shutdown")
            recorder.engine_stopped()
        except Exception:
            logger.exception("could not record the end of the crawl")


def _mark_stopped_directly(crawler: Crawler) -> int | None:
    """From the watchdog: the crawl row says ``interrupted`` / ``stopped``, on a connection
    of its own (the crawl thread's session may be mid-transaction and is not ours to use)."""
    from sqlalchemy import select, text, update

    from crawler.store.db import make_engine
    from crawler.store.models import Crawl, CrawlProgress, utcnow
    from crawler.store.recorder import CrawlRecorder

    recorder = getattr(crawler, CrawlRecorder.ATTR, None)
    crawl_id = getattr(recorder, "crawl_id", None)
    if recorder is None or crawl_id is None:
        return None
    engine = make_engine(recorder.db_url, create=False)
    wait_ms = int(WATCHDOG_STORE_WAIT * 1000)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                conn.execute(text(f"PRAGMA busy_timeout={wait_ms}"))
            else:
                conn.execute(text(f"SET LOCAL lock_timeout = {wait_ms}"))
            progress = conn.execute(
                select(CrawlProgress.pages, CrawlProgress.ads, CrawlProgress.errors).where(
                    CrawlProgress.crawl_id == crawl_id
                )
            ).first()
            values: dict[str, Any] = {
                "status": "interrupted",
                "state": "stopped",
                "finish_reason": "shutdown",
                "finished_at": utcnow(),
            }
            if progress is not None:
                values.update(pages=progress[0], ads=progress[1], errors=progress[2])
            done = conn.execute(
                update(Crawl)
                .where(Crawl.id == crawl_id, Crawl.status == "running")
                .values(**values)
            )
    finally:
        engine.dispose()
    return crawl_id if done.rowcount else None


def _custody(crawler: Crawler, action: str, details: dict[str, Any]) -> None:
    from crawler.politeness.policy import record_custody

    spider = crawler.engine.spider if crawler.engine else None
    if spider is None:
        return
    try:
        record_custody(crawler, spider, action, details)
    except Exception:
        logger.exception("could not write the %s custody event", action)


class ShutdownExtension:
    """Registers each crawler with the process's coordinator and installs its handlers."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ShutdownExtension:
        s = crawler.settings
        coordinator = _state["coordinator"]
        if coordinator is None:
            coordinator = _Coordinator(
                s.getfloat("ADARCHIVE_SHUTDOWN_GRACE"),
                s.getfloat("ADARCHIVE_SHUTDOWN_TIMEOUT"),
            )
            _state["coordinator"] = coordinator
        coordinator.crawlers.append(crawler)
        ext = cls(crawler)
        crawler.signals.connect(ext.engine_started, signal=signals.engine_started)
        return ext

    def engine_started(self) -> None:
        from twisted.internet import reactor

        coordinator: _Coordinator = _state["coordinator"]
        # Scrapy installs its own handlers after reactor start-up; take over after it.
        reactor.callLater(0, coordinator.install)
        reactor.callLater(0.5, coordinator.install)
