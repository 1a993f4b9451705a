"""Size and time limits on every response, reported as refusals with their reason.

* Total time: Scrapy's ``download_timeout`` covers the whole download (a
  timer cancels it however slowly bytes drip in), so it is the per-response
  total limit; ``ADARCHIVE_RESPONSE_TIME_LIMIT`` caps it for every request.
  A response that hits it is retried once, then refused (never more: a
  dripping server would otherwise hold the crawl for ``RETRY_TIMES`` more).
* Size: a body over ``DOWNLOAD_MAXSIZE`` (declared or received) is cancelled
  by Scrapy; here it becomes a ``size_limit`` refusal instead of an error.
* Decompression bombs: Scrapy's HttpCompressionMiddleware stops inflating at
  ``DOWNLOAD_MAXSIZE``; the subclass here counts that as ``decompression_bomb``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scrapy.downloadermiddlewares.httpcompression import HttpCompressionMiddleware
from scrapy.exceptions import DownloadCancelledError, DownloadTimeoutError, IgnoreRequest
from twisted.internet.error import TimeoutError as TxTimeoutError

from crawler.politeness.refusals import note_refusal
from crawler.shutdown import shutdown_requested

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

META_TIME_RETRIED = "adarchive_time_limit_retried"


class ResponseLimitsMiddleware:
    """Order 570: caps ``download_timeout``; turns timeouts and size cancels into refusals."""

    def __init__(self, crawler: Crawler, time_limit: float) -> None:
        self.crawler = crawler
        self.time_limit = time_limit
        self.maxsize = crawler.settings.getint("DOWNLOAD_MAXSIZE")

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ResponseLimitsMiddleware:
        limit = crawler.settings.getfloat("ADARCHIVE_RESPONSE_TIME_LIMIT")
        return cls(crawler, limit)

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        if self.time_limit > 0:
            current = request.meta.get("download_timeout")
            if not current or current > self.time_limit:
                request.meta["download_timeout"] = self.time_limit

    def process_exception(
        self, request: Request, exception: Exception, spider: Spider | None = None
    ) -> Request | None:
        if isinstance(exception, DownloadTimeoutError | TxTimeoutError):
            limit = request.meta.get("download_timeout", self.time_limit)
            if not request.meta.get(META_TIME_RETRIED):
                self.crawler.stats.inc_value("adarchive/limits/time_limit_retries")
                logger.info("%s took longer than %ss: retrying once", request.url, limit)
                retry = request.replace(dont_filter=True)
                retry.meta[META_TIME_RETRIED] = True
                retry.meta["dont_retry"] = True  # Scrapy's RetryMiddleware must not add more
                return retry
            why = f"response not complete within {limit}s total, twice"
            note_refusal(self.crawler, "time_limit", request.url, why)
            raise IgnoreRequest(why)
        if isinstance(exception, DownloadCancelledError) and not shutdown_requested():
            # Scrapy cancels only for size here: a declared length over the limit
            # (message says so) or a body that grew past it (empty message).
            limit = request.meta.get("download_maxsize", self.maxsize)
            why = str(exception).split(" in request ")[0] or f"body grew past {limit} bytes"
            note_refusal(self.crawler, "size_limit", request.url, why)
            raise IgnoreRequest(why)
        return None


class CountingHttpCompressionMiddleware(HttpCompressionMiddleware):
    """Scrapy's decompression (bounded by DOWNLOAD_MAXSIZE), with bombs counted as refusals."""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CountingHttpCompressionMiddleware:
        mw = super().from_crawler(crawler)
        mw._adarchive_crawler = crawler
        return mw

    def process_response(
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Request | Response:
        try:
            return super().process_response(request, response)
        except IgnoreRequest as exc:
            crawler = getattr(self, "_adarchive_crawler", None)
            if crawler is not None and "during decompression" in str(exc):
                note_refusal(
                    crawler,
                    "decompression_bomb",
                    request.url,
                    f"{len(response.body)} B compressed inflate past DOWNLOAD_MAXSIZE",
                )
            raise
