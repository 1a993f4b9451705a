"""Scrapy's robots.txt middleware, fixed for requests that wait together for one robots.txt.

In Scrapy 2.19, every request that arrives while a host's robots.txt is
still being fetched awaits the same Deferred through ``Deferred.asFuture``,
whose callback returns None: the first waiter gets the parser, every other
waiter gets None, and None means "no robots.txt, allow everything". A crawl
whose first pages reach the middleware together (several start URLs on one
host, or a resumed crawl whose listings come from the archive) would fetch
disallowed paths. Here each waiter gets its own Deferred; the rest is Scrapy's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.defer import Deferred

from crawler.politeness.refusals import note_refusal

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.robotstxt import RobotParser


class SharedWaitRobotsTxtMiddleware(RobotsTxtMiddleware):
    async def robot_parser(self, request: Request) -> RobotParser | None:
        pending = self._parsers.get(urlparse_cached(request).netloc)
        if isinstance(pending, Deferred):
            mine: Deferred[Any] = Deferred()

            def relay(result: Any) -> Any:
                mine.callback(result)
                return result  # passed on unchanged to the next waiter

            pending.addBoth(relay)
            return await maybe_deferred_to_future(mine)
        return await super().robot_parser(request)

    def process_request_2(self, rp: RobotParser | None, request: Request) -> None:
        """Scrapy's check, with the refusal counted and named like every other one."""
        try:
            super().process_request_2(rp, request)
        except IgnoreRequest:
            request.meta["adarchive_refused"] = "robots"  # why a start URL was refused
            note_refusal(self.crawler, "robots", request.url, "disallowed by robots.txt")
            raise
