"""A DNS resolver that refuses to hand out non-public addresses (``TWISTED_DNS_RESOLVER``).

The middleware decides before a request is sent; this resolver decides again
at connection time, on the address actually used, so a name that answers
"public" to the first look-up and "127.0.0.1" to the second is refused too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from scrapy.resolver import CachingThreadedResolver
from twisted.internet.error import DNSLookupError

from crawler.guard.address import AllowList, check_address
from crawler.guard.ssrf_middleware import allow_list_from_settings

if TYPE_CHECKING:
    from twisted.internet.base import ReactorBase
    from twisted.internet.defer import Deferred


class GuardedResolver(CachingThreadedResolver):
    """Scrapy's caching resolver, failing look-ups that end on a refused address."""

    def __init__(
        self,
        reactor: ReactorBase,
        cache_size: int,
        timeout: float,
        allow: AllowList | None = None,
        enabled: bool = True,
    ):
        super().__init__(reactor, cache_size, timeout)
        self.allow = allow or AllowList()
        self.enabled = enabled

    @classmethod
    def from_crawler(cls, crawler: Any, reactor: ReactorBase) -> GuardedResolver:
        resolver = super().from_crawler(crawler, reactor)
        resolver.allow = allow_list_from_settings(crawler.settings)
        resolver.enabled = crawler.settings.getbool("ADARCHIVE_SSRF_GUARD_ENABLED")
        return resolver

    def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> Deferred[str]:  # noqa: N802
        deferred = super().getHostByName(name, timeout)
        if self.enabled:
            deferred.addCallback(self._check, name)
        return deferred

    def _check(self, address: str, name: str) -> str:
        decision = check_address(address, self.allow)
        if not decision.allowed:
            raise DNSLookupError(
                f"SSRF guard: {name} resolves to {address}, {decision.reason}, not allowed"
            )
        return address
