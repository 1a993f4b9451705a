"""The Scrapy settings that turn an ordinary crawl into a shared-frontier worker."""

from __future__ import annotations

from typing import Any

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_PREFIX = "adarchive"
LIMITER = "crawler.scale.limiter.SharedPolitenessMiddleware"
LIMITER_ORDER = 940  # after robots (100) and every request filter, before the archive (950)
WORKER_EXTENSION = "crawler.scale.worker_extension.WorkerExtension"


class ScaleError(ValueError):
    """A scale-out set-up that cannot work; the message is one line."""


def queue_key(prefix: str) -> str:
    return f"{prefix}:%(spider)s:requests"


def dupefilter_key(prefix: str) -> str:
    return f"{prefix}:%(spider)s:dupefilter"


def seeds_key(prefix: str) -> str:
    return f"{prefix}:%(name)s:start_urls"


def worker_settings(
    base: Any,
    redis_url: str = DEFAULT_REDIS_URL,
    prefix: str = DEFAULT_PREFIX,
    delay: float | None = None,
    concurrency: int | None = None,
    idle_close: float = 10.0,
) -> dict[str, Any]:
    """Overrides for ``base`` (the run's settings) that make its crawls workers.

    The per-site delay and concurrency move from each process's download slots
    into the shared limiter (``delay`` defaults to the DOWNLOAD_DELAY in force,
    ``concurrency`` to CONCURRENT_REQUESTS_PER_DOMAIN); the local slot keeps no
    delay of its own, no jitter and no AutoThrottle, which would otherwise
    shift a request away from the moment the shared limiter granted it.
    """
    shared_delay = base.getfloat("DOWNLOAD_DELAY") if delay is None else float(delay)
    shared_concurrency = (
        base.getint("CONCURRENT_REQUESTS_PER_DOMAIN") if concurrency is None else int(concurrency)
    )
    if shared_delay < 0 or shared_concurrency < 1:
        raise ScaleError("the shared delay must be >= 0 and the concurrency >= 1")
    middlewares = dict(base.getdict("DOWNLOADER_MIDDLEWARES"))
    middlewares[LIMITER] = LIMITER_ORDER
    extensions = dict(base.getdict("EXTENSIONS"))
    extensions[WORKER_EXTENSION] = 100
    return {
        # scrapy-redis: the frontier and the duplicate filter live in Redis.
        "SCHEDULER": "scrapy_redis.scheduler.Scheduler",
        "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
        # Without it the first worker to close deletes the shared queue and filter.
        "SCHEDULER_PERSIST": True,
        "SCHEDULER_QUEUE_KEY": queue_key(prefix),
        "SCHEDULER_DUPEFILTER_KEY": dupefilter_key(prefix),
        "REDIS_START_URLS_KEY": seeds_key(prefix),
        "REDIS_URL": redis_url,
        # Politeness: shared in Redis, not per process.
        "ADARCHIVE_SCALE_REDIS_URL": redis_url,
        "ADARCHIVE_SCALE_PREFIX": prefix,
        "ADARCHIVE_SCALE_DELAY": shared_delay,
        "ADARCHIVE_SCALE_CONCURRENCY": shared_concurrency,
        "ADARCHIVE_SCALE_IDLE_CLOSE": idle_close,
        "DOWNLOAD_DELAY": 0.0,
        "DOWNLOAD_DELAY_JITTER": 0.0,
        "AUTOTHROTTLE_ENABLED": False,
        "CONCURRENT_REQUESTS_PER_DOMAIN": max(shared_concurrency, 1),
        # Requests wait for the shared limiter inside the downloader, where Scrapy
        # already counts them as active: a worker holding 16 of them would starve
        # the others. Take from the shared queue only what can go out soon.
        "CONCURRENT_REQUESTS": _prefetch(base, shared_concurrency),
        "DOWNLOADER_MIDDLEWARES": middlewares,
        "EXTENSIONS": extensions,
    }


def _prefetch(base: Any, shared_concurrency: int) -> int:
    """Twice the shared per-site concurrency, unless CONCURRENT_REQUESTS was set on purpose."""
    from scrapy.settings import SETTINGS_PRIORITIES

    if (base.getpriority("CONCURRENT_REQUESTS") or 0) >= SETTINGS_PRIORITIES["cmdline"]:
        return base.getint("CONCURRENT_REQUESTS")
    return max(2, 2 * shared_concurrency)


def check_store_for_workers(db_url: str, allow_sqlite: bool = False) -> None:
    """Scale-out writes from many processes: PostgreSQL, not SQLite (one writer at a time)."""
    # Imported here: the CLI reads this module's defaults at start-up, without SQLAlchemy.
    from crawler.store.db import sqlite_path

    if sqlite_path(db_url) is not None and not allow_sqlite:
        raise ScaleError(
            "workers share one store: use PostgreSQL (--db postgresql+psycopg://…); "
            "SQLite serialises writers (--allow-sqlite for a single worker)"
        )
