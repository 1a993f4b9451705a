"""SSRF guard, Retry-After and policy decisions as pure functions: no socket is opened.

Real private and public addresses are decided here without connecting; the
crawls in ``test_hostile_crawl.py`` check the same guard against a real
internal server on 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

import pytest
from twisted.internet.error import DNSLookupError

from crawler.guard import check_address, check_host, parse_allow_list
from crawler.guard.address import address_class, refusal
from crawler.guard.resolver import GuardedResolver
from crawler.politeness.budget import budget_for, redact_proxy
from crawler.politeness.policy import PolicyError, check_policy, policy_overrides
from crawler.politeness.retry_after import backoff_delay, parse_retry_after

FIXTURE = "127.0.0.10-127.0.0.99"


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.5", "private"),
        ("172.16.4.4", "private"),
        ("192.168.1.1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "shared address space"),
        ("::ffff:10.0.0.1", "private (IPv4 inside IPv6)"),
        ("::ffff:127.0.0.1", "loopback (IPv4 inside IPv6)"),
        ("64:ff9b::a9fe:a9fe", "link-local (IPv4 inside IPv6)"),
    ],
)
def test_non_public_addresses_refused(address: str, reason: str) -> None:
    decision = check_address(address, FIXTURE)
    assert not decision.allowed
    assert decision.reason == reason


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.4.4", "2606:4700:4700::1111"])
def test_public_addresses_allowed(address: str) -> None:
    decision = check_address(address)
    assert decision.allowed and decision.reason == "public"
    assert address_class(ipaddress.ip_address(address)) is None


def test_allow_list_is_exact() -> None:
    allow = parse_allow_list(FIXTURE)
    assert check_address("127.0.0.10", allow).allowed
    assert check_address("127.0.0.16", allow).reason == "allow-list"
    assert not check_address("127.0.0.9", allow).allowed
    assert not check_address("127.0.0.100", allow).allowed
    assert not check_address("127.0.0.1", allow).allowed
    cidr = parse_allow_list(["10.1.0.0/16", "fd00::5"])
    assert check_address("10.1.200.3", cidr).allowed
    assert not check_address("10.2.0.1", cidr).allowed
    assert check_address("fd00::5", cidr).allowed and not check_address("fd00::6", cidr).allowed


@pytest.mark.parametrize("bad", ["127.0.0.300", "10.0.0.9-10.0.0.1", "127.0.0.1-::1", "nonsense"])
def test_bad_allow_list_items_are_errors(bad: str) -> None:
    with pytest.raises(ValueError, match="allow-list item"):
        parse_allow_list(bad)


def test_hosts_checked_by_what_they_mean() -> None:
    """Names and odd numeric spellings resolve (locally: /etc/hosts, inet_aton) before deciding."""
    allow = parse_allow_list(FIXTURE)
    for host in ("localhost", "2130706433", "0x7f.1", "[::1]", "127.1"):
        decisions = check_host(host, allow)
        assert decisions, host
        refused = refusal(host, decisions)
        assert refused is not None and refused.reason == "loopback", host
    assert refusal("127.0.0.12", check_host("127.0.0.12", allow)) is None
    # a resolver answer is checked like a literal (no network: the resolver is given)
    fake = {"ads.example.org": ["93.184.216.34", "10.9.9.9"]}
    refused = refusal("ads.example.org", check_host("ads.example.org", allow, fake.__getitem__))
    assert refused is not None and refused.address == "10.9.9.9" and refused.reason == "private"


def test_connection_time_resolver_refuses_internal_answers() -> None:
    from twisted.internet import reactor

    resolver = GuardedResolver(reactor, 0, 5.0, parse_allow_list(FIXTURE))
    assert resolver._check("127.0.0.11", "fixture.example") == "127.0.0.11"
    assert resolver._check("93.184.216.34", "public.example") == "93.184.216.34"
    with pytest.raises(DNSLookupError, match="169.254.169.254"):
        resolver._check("169.254.169.254", "metadata.example")
    with pytest.raises(DNSLookupError, match="loopback"):
        resolver._check("127.0.0.1", "rebinding.example")


def test_retry_after_both_forms() -> None:
    now = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after(b" 3 ", now) == 3.0
    assert parse_retry_after("Sun, 01 Nov 2026 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Sun, 01 Nov 2026 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_backoff_is_exponential_capped_and_honours_the_site() -> None:
    assert [backoff_delay(n, None, 2.0, 60.0) for n in range(1, 7)] == [2, 4, 8, 16, 32, 60]
    assert backoff_delay(1, 30.0, 2.0, 60.0) == 30.0
    assert backoff_delay(5, 1.0, 2.0, 60.0) == 32.0
    assert backoff_delay(1, 4000.0, 2.0, 300.0) == 300.0


def test_policy_flags_need_their_justification() -> None:
    with pytest.raises(PolicyError, match="--authority"):
        policy_overrides(True, None, None, None)
    with pytest.raises(PolicyError, match="--user-agent-reason"):
        policy_overrides(False, None, "Mozilla/5.0 (X11; Linux x86_64)", None)
    with pytest.raises(PolicyError, match="only used with --ignore-robots"):
        policy_overrides(False, "warrant 7", None, None)
    out = policy_overrides(True, " Warrant AB-12/2026 ", "Mozilla/5.0", "site blocks bots")
    assert out == {
        "ROBOTSTXT_OBEY": False,
        "ADARCHIVE_ROBOTS_AUTHORITY": "Warrant AB-12/2026",
        "ADARCHIVE_USER_AGENT": "Mozilla/5.0",
        "ADARCHIVE_USER_AGENT_REASON": "site blocks bots",
    }


def test_settings_cannot_skip_the_justification() -> None:
    from scrapy.settings import Settings

    settings = Settings()
    settings.setmodule("crawler.settings")
    check_policy(settings)
    settings.set("ROBOTSTXT_OBEY", False)
    with pytest.raises(PolicyError, match="authority"):
        check_policy(settings)
    settings.set("ADARCHIVE_ROBOTS_AUTHORITY", "court order 5")
    check_policy(settings)
    settings.set("ADARCHIVE_USER_AGENT", "Mozilla/5.0")
    with pytest.raises(PolicyError, match="reason"):
        check_policy(settings)


def test_budgets_merge_platform_over_defaults() -> None:
    from scrapy.settings import Settings

    settings = Settings()
    settings.setmodule("crawler.settings")
    settings.set("ADARCHIVE_MAX_DEPTH", 9)
    settings.set(
        "ADARCHIVE_BUDGETS",
        '{"*": {"max_pages": 100}, "hostile_board": {"max_depth": 3, '
        '"proxy": "http://agent:secret@127.0.0.20:3128"}}',
    )
    hostile = budget_for(settings, "hostile_board")
    other = budget_for(settings, "kz_board")
    assert (hostile.max_pages, hostile.max_depth) == (100, 3)
    assert (other.max_pages, other.max_depth) == (100, 9)
    assert "secret" not in hostile.describe() and "sha256:" in hostile.describe()
    assert redact_proxy("http://127.0.0.20:3128") == "http://127.0.0.20:3128"
    settings.set("ADARCHIVE_BUDGETS", '{"kz_board": {"max_pgaes": 1}}')
    with pytest.raises(ValueError, match="max_pgaes"):
        budget_for(settings, "kz_board")
