"""Redirect loops: refused the moment a redirect points back into its own chain.

Order 610: in the response direction it sees a 3xx before the
RedirectMiddleware (600) follows it. Scrapy would otherwise follow
``a → b → a`` until the duplicate filter or ``REDIRECT_MAX_TIMES`` stops it,
silently; here the loop is a refusal with its reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urldefrag, urljoin

from scrapy.exceptions import IgnoreRequest

from crawler.politeness.refusals import note_refusal

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response


class RedirectLoopMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RedirectLoopMiddleware:
        return cls(crawler)

    def process_response(
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Response:
        location = response.headers.get(b"Location")
        if not (300 <= response.status < 400) or not location:
            return response
        target = urldefrag(urljoin(request.url, location.decode("latin-1")))[0]
        chain = [urldefrag(u)[0] for u in (request.meta.get("redirect_urls") or [])]
        chain.append(urldefrag(request.url)[0])
        if target in chain:
            hops = " -> ".join([*chain, target])
            note_refusal(self.crawler, "redirect_loop", request.url, hops)
            raise IgnoreRequest(f"redirect loop: {hops}")
        return response
