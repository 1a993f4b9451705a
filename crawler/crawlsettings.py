"""The settings that shape what a crawl captured, as recorded with it.

Written into the crawl's row, its ``crawl.started`` custody event and the
warcinfo record, so it lives below all three: it reads a settings object and
nothing of ours above the foundations. Proxy credentials never leave here in
the clear.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from crawler.archive.digests import secret_digest
from crawler.useragent import user_agent_from_settings


def capture_settings(settings: Any) -> dict[str, Any]:
    """The settings that shape what was captured, for crawl rows and warcinfo."""
    typed = {
        "ROBOTSTXT_OBEY": settings.getbool,
        "AUTOTHROTTLE_ENABLED": settings.getbool,
        "ADARCHIVE_ROBOTS_CRAWL_DELAY": settings.getbool,
        "DOWNLOAD_DELAY": settings.getfloat,
        "DOWNLOAD_DELAY_JITTER": settings.getfloat,
        "CONCURRENT_REQUESTS": settings.getint,
        "CONCURRENT_REQUESTS_PER_DOMAIN": settings.getint,
        "DOWNLOAD_MAXSIZE": settings.getint,
        "DOWNLOAD_TIMEOUT": settings.getfloat,
        "CLOSESPIDER_PAGECOUNT": settings.getint,
        "ADARCHIVE_OPERATOR_CONTACT": settings.get,
    }
    out: dict[str, Any] = {key: read(key) for key, read in typed.items()}
    out["USER_AGENT"] = user_agent_from_settings(settings)
    out["Accept-Encoding"] = (settings.getdict("DEFAULT_REQUEST_HEADERS") or {}).get(
        "Accept-Encoding"
    )
    # Issue 7: robots authority, User-Agent reason, limits, budgets, SSRF allow-list.
    out.update(policy_settings(settings))
    return out


def policy_settings(settings: Any) -> dict[str, Any]:
    """Issue-7 settings for a crawl row's settings (and so its ``crawl.started`` event)."""
    proxy = settings.get("ADARCHIVE_PROXY")
    budgets = settings.get("ADARCHIVE_BUDGETS") or {}
    if not isinstance(budgets, str):
        budgets = json.dumps(budgets, sort_keys=True, default=str)
    if '"proxy"' in budgets:
        budgets = re.sub(
            r'("proxy":\s*")([^"]*)"',
            lambda m: m.group(1) + redact_proxy(m.group(2)) + '"',
            budgets,
        )
    return {
        "ADARCHIVE_ROBOTS_AUTHORITY": settings.get("ADARCHIVE_ROBOTS_AUTHORITY"),
        "ADARCHIVE_USER_AGENT_REASON": settings.get("ADARCHIVE_USER_AGENT_REASON"),
        "ADARCHIVE_SSRF_GUARD_ENABLED": settings.getbool("ADARCHIVE_SSRF_GUARD_ENABLED"),
        "ADARCHIVE_ALLOWED_ADDRESSES": str(settings.get("ADARCHIVE_ALLOWED_ADDRESSES") or ""),
        "ADARCHIVE_RESPONSE_TIME_LIMIT": settings.getfloat("ADARCHIVE_RESPONSE_TIME_LIMIT"),
        "ADARCHIVE_MAX_DEPTH": settings.getint("ADARCHIVE_MAX_DEPTH"),
        "ADARCHIVE_MAX_LISTING_PAGES": settings.getint("ADARCHIVE_MAX_LISTING_PAGES"),
        "ADARCHIVE_MAX_SECONDS": settings.getfloat("ADARCHIVE_MAX_SECONDS"),
        "ADARCHIVE_MAX_QUERY_VARIANTS": settings.getint("ADARCHIVE_MAX_QUERY_VARIANTS"),
        "ADARCHIVE_PROXY": redact_proxy(proxy) if proxy else None,
        "ADARCHIVE_BUDGETS": budgets,
        "ADARCHIVE_RESUME": settings.getbool("ADARCHIVE_RESUME"),
    }


def redact_proxy(proxy: str) -> str:
    """``http://user:pw@host:3128`` → ``http://sha256:<hex>@host:3128``."""
    parts = urlsplit(proxy)
    if "@" not in parts.netloc:
        return proxy
    userinfo, host = parts.netloc.rsplit("@", 1)
    return parts._replace(netloc=f"{secret_digest(userinfo.encode())}@{host}").geturl()


__all__ = ["capture_settings", "policy_settings", "redact_proxy"]
