"""Run crawls of platform definitions in this process and summarise them.

The Twisted reactor cannot restart, so one call runs every requested crawl
(possibly several platforms at once) and returns when all have finished.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crawler.platforms import PlatformDefinition
from crawler.store.db import StoreError, make_engine, resolve_db_url


class CrawlSetupError(RuntimeError):
    """A crawl cannot start; the message is one line for the user."""


@dataclass
class CrawlJob:
    definition: PlatformDefinition
    start_url: str | None = None


@dataclass
class CrawlResult:
    platform: str
    crawl_id: int | None
    finish_reason: str
    pages: int
    ads: int
    new_ads: int
    errors: int
    seconds: float
    stats: dict[str, Any] = field(default_factory=dict)


def build_settings(
    out: str | Path | None,
    db: str | None,
    overrides: dict[str, Any] | None = None,
    max_pages: int | None = None,
    definitions_dir: str | Path | None = None,
) -> Any:
    """Scrapy settings for a run: every configuration layer (crawler.configuration),
    the command's options and ``overrides`` (``-s``) last; checked, else ConfigError."""
    from crawler.configuration import load_settings

    options: dict[str, Any] = {}
    if out is not None:
        options["ADARCHIVE_DATA_DIR"] = str(out)
    if definitions_dir is not None:
        options["ADARCHIVE_DEFINITIONS_DIR"] = str(definitions_dir)
    if max_pages:
        options["CLOSESPIDER_PAGECOUNT"] = int(max_pages)
    settings, _ = load_settings({**options, **(overrides or {})})
    data_dir = Path(settings.get("ADARCHIVE_DATA_DIR"))
    prepare_output_dir(data_dir)
    db_url = resolve_db_url(db or settings.get("ADARCHIVE_DB"), data_dir)
    settings.set("ADARCHIVE_DATA_DIR", str(data_dir), priority="cmdline")
    settings.set("ADARCHIVE_DB", db_url, priority="cmdline")
    check_store_url(db_url)
    return settings


def prepare_output_dir(path: Path) -> None:
    """Create the output directory or fail with one clear line."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CrawlSetupError(f"cannot create output directory {path}: {exc.strerror}") from None
    if not path.is_dir():
        raise CrawlSetupError(f"output path {path} is not a directory")
    if not os.access(path, os.W_OK | os.X_OK):
        raise CrawlSetupError(f"output directory {path} is not writable")


def check_store_url(url: str) -> None:
    """Open (and close) the store once before the reactor starts, so errors are one line."""
    from crawler.store.db import upgrade_schema

    engine = make_engine(url, create=True)
    try:
        upgrade_schema(engine)
    except StoreError:
        raise
    except Exception as exc:  # driver errors: connection refused, auth, ...
        raise StoreError(f"cannot open store {url!r}: {exc}".splitlines()[0]) from None
    finally:
        engine.dispose()


def run_crawls(jobs: Sequence[CrawlJob], settings: Any) -> list[CrawlResult]:
    """Crawl every job concurrently in this process; return one result per job."""
    from scrapy.crawler import CrawlerProcess

    from crawler.store.recorder import CrawlRecorder
    from spiders.base import DefinitionSpider

    if any(job.definition.needs_browser for job in jobs):
        # Browser platforms (issue 6): no Chromium stops the run before Scrapy starts.
        from crawler.browser.launch import find_browser

        find_browser(settings.get("ADARCHIVE_BROWSER_EXECUTABLE"))
    process = CrawlerProcess(settings)
    crawlers = []
    started = time.monotonic()
    for job in jobs:
        spider_cls = DefinitionSpider.for_definition(job.definition)
        crawler = process.create_crawler(spider_cls)
        crawlers.append((job, crawler))
        kwargs = {"start_url": job.start_url} if job.start_url else {}
        process.crawl(crawler, **kwargs)
    process.start()
    elapsed = time.monotonic() - started
    results = []
    for job, crawler in crawlers:
        stats = dict(crawler.stats.get_stats()) if crawler.stats else {}
        recorder = getattr(crawler, CrawlRecorder.ATTR, None)
        results.append(
            CrawlResult(
                platform=job.definition.name,
                crawl_id=recorder.crawl_id if recorder else None,
                finish_reason=str(stats.get("finish_reason", "unknown")),
                pages=int(stats.get("response_received_count", 0)),
                ads=recorder.stats["ads"] if recorder else int(stats.get("item_scraped_count", 0)),
                new_ads=recorder.stats["new_ads"] if recorder else 0,
                errors=int(stats.get("log_count/ERROR", 0)),
                seconds=_crawl_seconds(stats, elapsed),
                stats=stats,
            )
        )
    return results


def _crawl_seconds(stats: dict[str, Any], fallback: float) -> float:
    elapsed = stats.get("elapsed_time_seconds")
    return float(elapsed) if elapsed is not None else fallback
