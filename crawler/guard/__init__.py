"""SSRF guard: never fetch loopback, private, link-local or other non-public addresses.

Ad pages are written by adversaries: a link or redirect to ``127.0.0.1`` or a
cloud metadata address must not make the crawler reach into the network it
runs in. ``address`` decides (pure functions, testable without a socket),
``ssrf_middleware`` checks every request and every redirect hop before it is sent,
``resolver`` re-checks what the name resolves to when the connection is made
(so a name that changes its answer between check and connect is refused too).
"""

from __future__ import annotations

from crawler.guard.address import (
    AddressDecision,
    AllowList,
    GuardRefusal,
    check_address,
    check_host,
    parse_allow_list,
)

__all__ = [
    "AddressDecision",
    "AllowList",
    "GuardRefusal",
    "check_address",
    "check_host",
    "parse_allow_list",
]
