"""What every WARC file's warcinfo record says: who captured, with what, under which rules.

A foundation: it reads settings only. The politeness layer adds its own fields
(robots override authority, User-Agent policy, budget, proxy) through
``extra`` (crawler/archive/addon.py puts them together).
"""

from __future__ import annotations

import functools
import os
import socket
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

import warcio

from crawler import __version__
from crawler.archive.records import RECONSTRUCTION_LIMITS
from crawler.useragent import user_agent_from_settings

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

# Settings that shape what a capture contains, listed in every warcinfo record.
CAPTURE_SETTINGS = (
    "ROBOTSTXT_OBEY",
    "ADARCHIVE_ROBOTS_CRAWL_DELAY",
    "ADARCHIVE_ROBOTS_CRAWL_DELAY_MAX",
    "DOWNLOAD_DELAY",
    "RANDOMIZE_DOWNLOAD_DELAY",
    "CONCURRENT_REQUESTS",
    "CONCURRENT_REQUESTS_PER_DOMAIN",
    "CONCURRENT_REQUESTS_PER_IP",
    "AUTOTHROTTLE_ENABLED",
    "AUTOTHROTTLE_START_DELAY",
    "AUTOTHROTTLE_MAX_DELAY",
    "AUTOTHROTTLE_TARGET_CONCURRENCY",
    "DOWNLOAD_MAXSIZE",
    "DOWNLOAD_TIMEOUT",
    "DOWNLOAD_FAIL_ON_DATALOSS",
    "RETRY_ENABLED",
    "RETRY_TIMES",
    "REDIRECT_ENABLED",
    "COOKIES_ENABLED",
    "CLOSESPIDER_PAGECOUNT",
    "ADARCHIVE_WARC_MAX_SIZE",
    "ADARCHIVE_WARC_MAX_AGE_MINUTES",
)


@functools.cache
def software() -> str:
    """Who wrote the records (looked up once: package metadata reads are slow)."""
    return f"adarchive/{__version__} (Scrapy/{scrapy_version()}; warcio/{warcio_version()})"


def scrapy_version() -> str:
    """``scrapy.__version__`` (its VERSION file), read without importing Scrapy where it
    is not loaded yet: the evidence writer needs no more of it (0.2 s of CPU)."""
    loaded = sys.modules.get("scrapy")
    if loaded is None:
        from importlib.util import find_spec

        spec = find_spec("scrapy")
        if spec is not None and spec.loader is not None and spec.submodule_search_locations:
            path = os.path.join(next(iter(spec.submodule_search_locations)), "VERSION")
            try:
                return spec.loader.get_data(path).decode("ascii").strip()  # type: ignore[attr-defined]
            except OSError:
                pass
        import scrapy as loaded
    return str(loaded.__version__)


def warcio_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("warcio")
    except PackageNotFoundError:  # pragma: no cover - warcio is a dependency
        return getattr(warcio, "__version__", "unknown")


def robots_policy(settings: BaseSettings) -> str:
    if not settings.getbool("ROBOTSTXT_OBEY"):
        # Issue 7: an override always names its authority (crawler.politeness.policy).
        authority = settings.get("ADARCHIVE_ROBOTS_AUTHORITY") or "none stated"
        return f"robots.txt NOT obeyed (ROBOTSTXT_OBEY=False); authority: {authority}"
    policy = "robots.txt obeyed (ROBOTSTXT_OBEY=True)"
    if settings.getbool("ADARCHIVE_ROBOTS_CRAWL_DELAY"):
        limit = settings.get("ADARCHIVE_ROBOTS_CRAWL_DELAY_MAX")
        policy += f"; Crawl-delay honoured, capped at {limit} s"
    return policy


def base_warcinfo(
    settings: BaseSettings,
    platform: str,
    crawl_id: int | None,
    extra: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """The warcinfo body: who captured, with what, under which rules, and what is lost."""
    headers = settings.getdict("DEFAULT_REQUEST_HEADERS") or {}
    setting_lines = [f"{name}={settings.get(name)}" for name in CAPTURE_SETTINGS]
    setting_lines.append(f"Accept-Encoding={headers.get('Accept-Encoding')}")
    return {
        "software": software(),
        "format": "WARC File Format 1.1",
        "hostname": socket.gethostname(),
        "operator": settings.get("ADARCHIVE_OPERATOR_CONTACT"),
        "http-header-user-agent": user_agent_from_settings(settings),
        "platform": platform,
        "crawl-id": crawl_id,
        "robots": robots_policy(settings),
        "setting": setting_lines,
        "reconstruction": list(RECONSTRUCTION_LIMITS),
        **(extra or {}),
    }
