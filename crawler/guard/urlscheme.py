"""Which URL schemes the crawl fetches: http and https, nothing else.

Pure functions of a URL's text, for everything that must say in advance what the
crawl will refuse (``platform check``, the workbench's platform pages) without
loading Scrapy; the downloader middleware that enforces it is
:mod:`crawler.guard.scheme`.
"""

from __future__ import annotations

import re

ALLOWED_SCHEMES = frozenset({"http", "https"})
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}")


def url_scheme(url: str) -> str:
    """The scheme of ``url`` in lower case, or ``"none"`` (a safe stats key either way)."""
    head = url.strip().split(":", 1)
    if len(head) == 2 and _SCHEME.fullmatch(head[0]):
        return head[0].lower()
    return "none"


def scheme_refusal(url: str) -> str | None:
    """Why ``url`` may not be fetched, or None when its scheme is http or https."""
    scheme = url_scheme(url)
    if scheme in ALLOWED_SCHEMES:
        return None
    if scheme == "none":
        return "no URL scheme (only http and https are fetched)"
    return f"scheme {scheme!r} is never fetched (only http and https)"
