"""Scrapy's downloader, with a site's concurrency held when the event loop runs late.

Scrapy 2.19 on the asyncio reactor starts each download as a task; the task puts
its request in the slot's ``transferring`` set only when it first runs, on a later
turn of the loop. Until then the slot looks free, so one pass over its queue can
send several requests to a site whose ``CONCURRENT_REQUESTS_PER_DOMAIN`` is 1:
every queued request at once with ``DOWNLOAD_DELAY = 0`` (9 of 20 in flight
together, measured), and two at once whenever the crawl process is held off the
CPU for longer than the delay between taking one request and looking again (seen
in the test suite on a loaded machine: a 503's pause skipped by a request sent
0.5 ms after the one before it). Here a request counts as transferring from the
moment it leaves the queue.

Enabled by ``DOWNLOADER`` in crawler/settings.py. Written against Scrapy 2.19's downloader
(its private ``_process_queue``, ``_wait_for_download``, ``_latercall``), hence the floor
on Scrapy in pyproject.toml; tests/test_site_concurrency.py fails if that contract moves.
"""

from __future__ import annotations

from time import monotonic

from scrapy.core.downloader import Downloader, Slot
from scrapy.utils.asyncio import call_later
from scrapy.utils.defer import _schedule_coro


class PoliteDownloader(Downloader):
    """A download slot never has more requests under way than its concurrency."""

    def _process_queue(self, slot: Slot) -> None:
        if slot.latercall:  # a pause is under way; it calls back when it ends
            return
        now = monotonic()
        delay = slot.download_delay()
        if delay:
            penalty = delay - now + slot.lastseen
            if penalty > 0:
                slot.latercall = call_later(penalty, self._latercall, slot)
                return
        while slot.queue and slot.free_transfer_slots() > 0:
            slot.lastseen = now
            request, queue_dfd = slot.queue.popleft()
            # Claimed now, not when the download's task first runs (Downloader._download
            # adds it again, and removes it when the download ends).
            slot.transferring.add(request)
            _schedule_coro(self._wait_for_download(slot, request, queue_dfd))
            if delay:  # one request per pause; the next waits for the delay
                self._process_queue(slot)
                break
