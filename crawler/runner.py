"""Run crawls of platform definitions in this process and summarise them.

The Twisted reactor cannot restart, so one call runs every requested crawl
(possibly several platforms at once) and returns when all have finished.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crawler import health
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
    health: health.Health | None = None
    stats_file: Path | None = None

    @property
    def state(self) -> str:
        """The finish state (DESIGN.md "Finish states")."""
        return self.health.state if self.health is not None else "failed"


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


def project_settings(overrides: dict[str, Any] | None = None) -> Any:
    """The project's settings with command-line overrides, for commands that crawl nothing."""
    from scrapy.settings import Settings

    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    for key, value in (overrides or {}).items():
        settings.set(key, value, priority="cmdline")
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
    from crawler.store.db import ensure_schema, sqlite_path

    path = sqlite_path(url)
    new = path is not None and not path.exists()
    engine = make_engine(url, create=True)
    try:
        ensure_schema(engine)
    except StoreError:
        raise
    except Exception as exc:  # driver errors: connection refused, auth, ...
        raise StoreError(f"cannot open store {url!r}: {exc}".splitlines()[0]) from None
    finally:
        engine.dispose()
    if new:
        print(f"created a new store at {path}", flush=True)  # stdout: not an error


def fork_spare_writer(settings: Any) -> None:
    """Fork the evidence writer the crawls will take, now, while this process is one
    thread with nothing open (crawler/sink/writer_fork.py); a no-op when one is ready,
    when the settings say otherwise, or when a fork is not safe any more."""
    if settings.getbool("ADARCHIVE_EVIDENCE_PROCESS") and settings.getbool(
        "ADARCHIVE_EVIDENCE_WRITER_FORK"
    ):
        from crawler.sink.writer_fork import start_spare

        start_spare(settings.get("LOG_LEVEL"))


def run_crawls(jobs: Sequence[CrawlJob], settings: Any) -> list[CrawlResult]:
    """Crawl every job concurrently in this process; return one result per job."""
    from scrapy.crawler import CrawlerProcess

    from crawler.store.recorder import CrawlRecorder
    from spiders.base import DefinitionSpider

    if any(job.definition.needs_browser for job in jobs):
        # Browser platforms (issue 6): no Chromium stops the run before Scrapy starts.
        from crawler.browser.launch import find_browser

        find_browser(settings.get("ADARCHIVE_BROWSER_EXECUTABLE"))
    if not all(job.definition.needs_browser for job in jobs):  # browser pages: in process
        fork_spare_writer(settings)  # unless the caller did, before starting threads
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
        ads = recorder.stats["ads"] if recorder else int(stats.get("item_scraped_count", 0))
        reason = (recorder.finish_reason if recorder else None) or stats.get("finish_reason")
        result = CrawlResult(
            platform=job.definition.name,
            crawl_id=recorder.crawl_id if recorder else None,
            finish_reason=str(stats.get("finish_reason", "unknown")),
            pages=int(stats.get("response_received_count", 0)),
            ads=ads,
            new_ads=recorder.stats["new_ads"] if recorder else 0,
            errors=int(stats.get("log_count/ERROR", 0)),
            seconds=_crawl_seconds(stats, elapsed),
            stats=stats,
            health=health.assess(job.definition.name, stats, ads, reason),
        )
        stored = getattr(recorder, "health", None)
        if stored is not None and result.crawl_id is not None and stored != result.health:
            # Counts that arrived after the crawl row closed (the evidence writer's
            # adverts not stored, late errors): the row gets the final state too.
            update_crawl_health(settings.get("ADARCHIVE_DB"), result.crawl_id, result.health)
        result.stats_file = write_crawl_stats(result, Path(settings.get("ADARCHIVE_DATA_DIR")))
        results.append(result)
    return results


def update_crawl_health(db_url: str, crawl_id: int, found: health.Health | None) -> None:
    """Store the final finish state and health on the crawl row."""
    from crawler.store.db import open_store
    from crawler.store.models import Crawl

    if found is None:
        return
    factory = open_store(db_url, create=False)
    try:
        with factory() as session:
            crawl = session.get(Crawl, crawl_id)
            if crawl is not None:
                crawl.state = found.state
                crawl.health_json = json.dumps(found.as_dict(), sort_keys=True)
                session.commit()
    finally:
        factory.kw["bind"].dispose()


STATS_DIR = "crawl-stats"


def write_crawl_stats(result: CrawlResult, data_dir: Path) -> Path | None:
    """``<data dir>/crawl-stats/<crawl id>.json``: the crawl's state, health and Scrapy stats.

    Written for tests and monitoring, so nobody has to scrape the log for numbers.
    """
    name = (
        str(result.crawl_id) if result.crawl_id is not None else f"{result.platform}-{os.getpid()}"
    )
    path = data_dir / STATS_DIR / f"{name}.json"
    document = {
        "schema": "adarchive-crawl-stats/1",
        "crawl_id": result.crawl_id,
        "platform": result.platform,
        "state": result.state,
        "health": result.health.as_dict() if result.health is not None else None,
        "stats": result.stats,
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(document, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8"
        )
    except OSError:
        return None  # a statistics file is a convenience, never a reason to fail the crawl
    return path


def _crawl_seconds(stats: dict[str, Any], fallback: float) -> float:
    elapsed = stats.get("elapsed_time_seconds")
    return float(elapsed) if elapsed is not None else fallback
