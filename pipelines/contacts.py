"""Contacts pipeline: extract contact identifiers from an ad's text fields.

Runs ``crawler.extract`` over ``title``, ``body``, ``name`` and ``contacts``
(the contact texts and link targets, joined by newlines into one text) and
stores the findings on the item's ``identifiers`` field, each with the field
it came from and its offsets in that field's text, for the store pipeline.
Links back to the ad's own site are not "off-platform" and are dropped.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from itemadapter import ItemAdapter
from scrapy.exceptions import NotConfigured

from crawler.extract import extract_identifiers

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler

TEXT_FIELDS = ("title", "body", "name")
CONTACTS_FIELD = "contacts"


class ContactsPipeline:
    """Fills ``item["identifiers"]`` with ``{kind, value, match, start, end, channel, field}``.

    Extraction is pure CPU work and the crawl runs on one core: with
    ``ADARCHIVE_CONTACTS_WORKERS`` > 0 it runs in a small process pool (shared by
    every crawler of the process), so the reactor thread keeps fetching while
    another core reads the adverts.
    """

    def __init__(self, workers: int = 0) -> None:
        self.workers = workers
        self.pool: ProcessPoolExecutor | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ContactsPipeline:
        if not crawler.settings.getbool("ADARCHIVE_CONTACTS_ENABLED", True):
            raise NotConfigured("ADARCHIVE_CONTACTS_ENABLED is False")
        return cls(workers=crawler.settings.getint("ADARCHIVE_CONTACTS_WORKERS", 0))

    def open_spider(self, spider: Spider | None = None) -> None:
        if self.workers > 0:
            self.pool = _acquire_pool(self.workers)

    def close_spider(self, spider: Spider | None = None) -> None:
        if self.pool is not None:
            _release_pool()
            self.pool = None

    async def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        adapter = ItemAdapter(item)
        args = (_texts(adapter), adapter.get("region") or None, _host(adapter.get("url")))
        if self.pool is None:
            found = identifiers_for(*args)
        else:
            try:
                loop = asyncio.get_running_loop()
                found = await loop.run_in_executor(self.pool, identifiers_for, *args)
            except BrokenProcessPool:  # a worker died: extract here rather than lose the item
                found = identifiers_for(*args)
        adapter["identifiers"] = found
        return item


def identifiers_for(
    texts: list[tuple[str, str]], region: str | None, own_host: str | None
) -> list[dict[str, Any]]:
    """Identifiers of every (field, text) pair; links back to the ad's own host dropped."""
    found: list[dict[str, Any]] = []
    for field, text in texts:
        for ident in extract_identifiers(text, region):
            if ident.kind == "url" and own_host and _host(ident.value) == own_host:
                continue
            found.append(
                {
                    "kind": ident.kind,
                    "value": ident.value,
                    "match": ident.match,
                    "start": ident.start,
                    "end": ident.end,
                    "channel": ident.channel,
                    "field": field,
                }
            )
    return found


_POOL: ProcessPoolExecutor | None = None
_POOL_USERS = 0


def _acquire_pool(workers: int) -> ProcessPoolExecutor:
    global _POOL, _POOL_USERS
    if _POOL is None:
        # forkserver: never fork the crawler process itself (reactor, threads, sockets).
        _POOL = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver"))
    _POOL_USERS += 1
    return _POOL


def _release_pool() -> None:
    global _POOL, _POOL_USERS
    _POOL_USERS -= 1
    if _POOL_USERS <= 0 and _POOL is not None:
        _POOL.shutdown(wait=True)
        _POOL = None
        _POOL_USERS = 0


def _texts(adapter: ItemAdapter) -> list[tuple[str, str]]:
    """(field name, text) pairs; ``contacts`` is one text, one entry per line."""
    texts = [(f, adapter.get(f)) for f in TEXT_FIELDS if f in adapter]
    contacts = adapter.get(CONTACTS_FIELD) if CONTACTS_FIELD in adapter else None
    if isinstance(contacts, str):
        texts.append((CONTACTS_FIELD, contacts))
    elif contacts:
        texts.append((CONTACTS_FIELD, "\n".join(str(c) for c in contacts if c)))
    return [(f, t) for f, t in texts if isinstance(t, str) and t]


def _host(url: object) -> str | None:
    if not isinstance(url, str) or not url:
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.lower().removeprefix("www.") if host else None
