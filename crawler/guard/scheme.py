"""The crawl's front door: only ``http`` and ``https`` ever leave the crawler.

Adverts are written by adversaries: an image ``file:///proc/self/environ``
would be read from our own disk, ``file:///dev/zero`` would fill memory and
``ftp://127.0.0.1:21/`` would open a connection the address guard never saw.
Scrapy's non-HTTP download handlers are off in our settings
(``DOWNLOAD_HANDLERS``), and this downloader middleware (order 20, before the
SSRF guard and everything that can answer or send a request) refuses any
other scheme with a counted reason, whatever made the request: the spider,
the images pipeline, robots.txt, a redirect hop or ``--resume``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.exceptions import IgnoreRequest
from scrapy.utils.httpobj import urlparse_cached

from crawler.guard.urlscheme import ALLOWED_SCHEMES, scheme_refusal, url_scheme
from crawler.politeness.refusals import note_refusal

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler

__all__ = ["ALLOWED_SCHEMES", "SchemePolicyMiddleware", "scheme_refusal", "url_scheme"]


class SchemePolicyMiddleware:
    """Refuses every request whose scheme is not http or https. Always on."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SchemePolicyMiddleware:
        return cls(crawler)

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        scheme = urlparse_cached(request).scheme.lower()
        if scheme in ALLOWED_SCHEMES:
            return None
        why = scheme_refusal(request.url) or "scheme refused"
        note_refusal(self.crawler, "scheme", request.url, why, detail=url_scheme(request.url))
        raise IgnoreRequest(f"{why}: {request.url}")
