"""Which addresses a crawler may connect to: pure decisions, no sockets opened.

Everything that is not a public unicast address is refused (loopback,
private, link-local, unspecified, multicast, reserved, shared/CGN, and the
IPv4 address hidden in IPv4-mapped, NAT64, 6to4 or Teredo IPv6 forms) unless
it is on the allow-list. The allow-list is explicit and narrow: the fixture
web's tests allow ``127.0.0.10-127.0.0.99`` and nothing else, so ``127.0.0.1``
and ``localhost`` stay refused even there.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SHARED = ipaddress.ip_network("100.64.0.0/10")


class GuardRefusal(Exception):
    """A destination the guard refuses; the message says which address and why."""

    def __init__(self, host: str, address: str, reason: str) -> None:
        self.host = host
        self.address = address
        self.reason = reason
        shown = host if host == address else f"{host} ({address})"
        super().__init__(f"SSRF guard: {shown} is {reason}, not on the allow-list")


@dataclass(frozen=True)
class AddressDecision:
    """The verdict on one address: ``allowed`` and the reason (its class or "allow-list")."""

    address: str
    allowed: bool
    reason: str


@dataclass(frozen=True)
class AllowList:
    """Inclusive address ranges that are allowed although not public."""

    ranges: tuple[tuple[int, int, int], ...] = ()
    """(ip version, first, last) as integers."""
    text: str = ""

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address):
            return False
        value = int(address)
        return any(v == address.version and lo <= value <= hi for v, lo, hi in self.ranges)

    def __bool__(self) -> bool:
        return bool(self.ranges)


def parse_allow_list(value: Any) -> AllowList:
    """``"127.0.0.10-127.0.0.99, 10.1.0.0/16"`` (or a list of such items) → :class:`AllowList`.

    Items are single addresses, CIDR networks or ``first-last`` ranges; a bad
    item raises ValueError naming it, so a typo cannot silently allow nothing
    (or everything).
    """
    if value is None or value == "":
        return AllowList()
    items: Iterable[str]
    if isinstance(value, str):
        items = value.replace(",", " ").split()
    elif isinstance(value, Sequence):
        items = [str(v).strip() for v in value]
    else:
        raise ValueError(f"allow-list must be a string or a list, got {type(value).__name__}")
    ranges = []
    for item in items:
        if not item:
            continue
        try:
            if "-" in item:
                first_text, last_text = item.split("-", 1)
                first = ipaddress.ip_address(first_text.strip())
                last = ipaddress.ip_address(last_text.strip())
                if first.version != last.version or int(last) < int(first):
                    raise ValueError("not an ascending range of one IP version")
                ranges.append((first.version, int(first), int(last)))
            else:
                network = ipaddress.ip_network(item, strict=False)
                ranges.append(
                    (
                        network.version,
                        int(network.network_address),
                        int(network.broadcast_address),
                    )
                )
        except ValueError as exc:
            raise ValueError(f"bad allow-list item {item!r}: {exc}") from None
    return AllowList(tuple(ranges), ", ".join(i for i in items if i))


def address_class(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public unicast address, or None when it is one."""
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        inner = address_class(embedded)
        return f"{inner} (IPv4 inside IPv6)" if inner else None
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("shared address space", ip.version == 4 and ip in _SHARED),
        ("not globally routable", not ip.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def check_address(address: str | IPAddress, allow: AllowList | Any = None) -> AddressDecision:
    """Decide one address; never opens a socket."""
    allow = allow if isinstance(allow, AllowList) else parse_allow_list(allow)
    text = str(address).strip("[]")
    ip = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id
    reason = address_class(ip)
    if reason is None:
        return AddressDecision(str(ip), True, "public")
    if ip in allow:
        return AddressDecision(str(ip), True, "allow-list")
    return AddressDecision(str(ip), False, reason)


def literal_address(host: str) -> IPAddress | None:
    """The address when ``host`` is an IP literal (``[::1]`` included), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


Resolve = Callable[[str], list[str]]


def resolve_all(host: str) -> list[str]:
    """Every address the system resolver gives for ``host`` (empty when it gives none)."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        return []
    return sorted({str(info[4][0]) for info in infos})


def check_host(
    host: str, allow: AllowList | Any = None, resolve: Resolve = resolve_all
) -> list[AddressDecision]:
    """Decide every address ``host`` stands for: itself if a literal, else what it resolves to.

    Numeric forms the resolver accepts (``2130706433``, ``0x7f.1``) are
    resolved to the address they mean. An unresolvable name gives no
    decisions: the fetch will fail on its own.
    """
    allow = allow if isinstance(allow, AllowList) else parse_allow_list(allow)
    literal = literal_address(host)
    addresses = [str(literal)] if literal is not None else resolve(host.lower().rstrip("."))
    return [check_address(a, allow) for a in addresses]


def refusal(host: str, decisions: Sequence[AddressDecision]) -> GuardRefusal | None:
    """The refusal for a host if any of its addresses is refused (the connector may pick any)."""
    for decision in decisions:
        if not decision.allowed:
            return GuardRefusal(host, decision.address, decision.reason)
    return None
