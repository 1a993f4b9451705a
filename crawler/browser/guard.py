"""The static path's guards, applied to the browser's own traffic through ``page.route``.

Browser requests (scripts, XHR, images, navigations made by the page) never
pass through Scrapy's downloader middlewares, so the allowed-host rule, the
SSRF guard (``crawler.guard``) and robots.txt are applied here to every
request a page makes, and the SSRF guard again to the address each response
actually came from.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from crawler.guard.address import AllowList, check_address, check_host, literal_address, refusal
from crawler.platforms import host_allowed

# Schemes that never touch the network; everything else but http(s) is refused.
LOCAL_SCHEMES = frozenset({"data", "blob", "about"})
CACHE_SECONDS = 30.0


@dataclass
class BrowserGuard:
    """Decides whether a page may fetch a URL; ``ssrf=False`` leaves only the host rule."""

    allowed_hosts: tuple[str, ...]
    allow: AllowList = field(default_factory=AllowList)
    ssrf: bool = True
    robots: Callable[[str], bool] | None = None
    """``robots(url)``: False when robots.txt disallows the URL (None: not obeyed)."""
    proxied: bool = False
    """Traffic goes through the egress proxy, which checked each address itself:
    the address a response reports is the proxy's, not the server's."""
    _cache: dict[str, tuple[float, str | None]] = field(default_factory=dict)

    async def refusal(self, url: str) -> tuple[str, str] | None:
        """``(kind, why)`` when the URL is refused, else None."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme in LOCAL_SCHEMES:
            return None
        if scheme not in ("http", "https"):
            return "browser-scheme", f"scheme {scheme!r} is not fetched"
        host = (parts.hostname or "").lower()
        if self.ssrf and literal_address(host) is not None:  # by address class first
            why = _why(host, check_host(host, self.allow))
            if why:
                return "ssrf", why
        if not host_allowed(host, self.allowed_hosts):
            return "browser-offsite", f"host {host!r} is not an allowed host of the platform"
        if self.ssrf:
            why = await self._ssrf(host)
            if why:
                return "ssrf", why
        if self.robots is not None and not self.robots(url):
            return "robots", "disallowed by robots.txt"
        return None

    async def _ssrf(self, host: str) -> str | None:
        if literal_address(host) is not None:
            return _why(host, check_host(host, self.allow))
        now = time.monotonic()
        cached = self._cache.get(host)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        decisions = await asyncio.to_thread(check_host, host, self.allow)
        why = _why(host, decisions)
        self._cache[host] = (now, why)
        return why

    def address_refusal(self, address: str | None) -> str | None:
        """Why the address a response came from is refused (the browser resolved it itself)."""
        if not self.ssrf or not address or self.proxied:
            return None
        try:
            decision = check_address(address, self.allow)
        except ValueError:
            return None
        return (
            None if decision.allowed else f"SSRF guard: answered from {address}, {decision.reason}"
        )


def _why(host: str, decisions: Iterable) -> str | None:
    refused = refusal(host, list(decisions))
    return str(refused) if refused else None
