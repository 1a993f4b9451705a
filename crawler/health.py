"""Definition health and the finish state of one crawl, from its stats.

A crawl that stores nothing must not look like success. The spider and the
guards count what they saw (``adarchive/listing_pages``,
``adarchive/ad_links_found``, ``adarchive/detail_pages``, refusals by reason,
start URLs refused); :func:`assess` turns those counts into one finish state
(DESIGN.md "Finish states"), the problems a user should look at, and the fix
in one line where the numbers name one. Pure functions of a stats mapping,
so they are tested without a crawl.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

# Worst last: several platforms in one run end in the worst of their states.
STATES = ("finished", "degraded", "empty", "refused", "stopped", "failed")
EXIT_CODES = {"finished": 0, "degraded": 3, "empty": 4, "refused": 5, "stopped": 130, "failed": 1}
# Scrapy close reasons that mean "the frontier or a budget ran out".
COMPLETE_REASONS = ("finished", "closespider_pagecount", "closespider_timeout")
STOP_REASON = "shutdown"
# More than this share of detail pages without an id or a required field: "most are empty".
EMPTY_SHARE = 0.5

# Stat keys (written by spiders/base.py, the guards and the evidence writer).
LISTING_PAGES = "adarchive/listing_pages"
AD_LINKS = "adarchive/ad_links_found"
LINKS_ALSO_NEXT = "adarchive/ad_links_also_next_page"
DETAIL_PAGES = "adarchive/detail_pages"
WITHOUT_ID = "adarchive/detail_without_id"
MISSING_REQUIRED = "adarchive/detail_missing_required"
START_URLS = "adarchive/start_urls"
START_FETCHED = "adarchive/start_fetched"
START_REFUSED = "adarchive/start_refused"
ADS_NOT_STORED = "adarchive/ads_not_stored"
# --resume: detail pages skipped because an interrupted crawl already stored their advert.
ALREADY_STORED = "adarchive/resume/already_stored"
STATE_KEY = "adarchive/state"
REFUSED_PREFIX = "adarchive/refused"


@dataclass
class Health:
    """What one platform's crawl saw, and what that says about its definition or site."""

    platform: str
    state: str
    finish_reason: str
    pages: int = 0
    listing_pages: int = 0
    ad_links: int = 0
    detail_pages: int = 0
    ads: int = 0
    ads_not_stored: int = 0
    already_stored: int = 0
    without_id: int = 0
    missing_required: int = 0
    errors: int = 0
    start_urls: int = 0
    start_refused: int = 0
    refusals: dict[str, int] = field(default_factory=dict)
    start_refusals: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    fix: str | None = None

    @property
    def empty_detail_pages(self) -> int:
        return self.without_id + self.missing_required

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _int(stats: Mapping[str, Any], key: str) -> int:
    value = stats.get(key, 0)
    return int(value) if isinstance(value, int | float) else 0


def _by_reason(stats: Mapping[str, Any], prefix: str) -> dict[str, int]:
    """``{reason: n}`` for ``<prefix>/<reason>`` keys (one level only)."""
    out: dict[str, int] = {}
    for key, value in stats.items():
        if key.startswith(prefix + "/") and isinstance(value, int):
            rest = key[len(prefix) + 1 :]
            if rest and "/" not in rest:
                out[rest] = value
    return out


def refusals_by_reason(stats: Mapping[str, Any]) -> dict[str, int]:
    """Requests refused so far, by reason (robots, ssrf, offsite …): also while crawling."""
    return _by_reason(stats, REFUSED_PREFIX)


def refusal_fix(reasons: Mapping[str, int], details: Mapping[str, int]) -> str | None:
    """The one-line fix for start URLs refused for these reasons (``details``: guard reasons)."""
    if "ssrf" in reasons:
        kinds = sorted(details) or ["non-public"]
        return (
            f"the address guard refused {'/'.join(kinds)} addresses: if this site is yours to "
            "crawl, allow them with -s ADARCHIVE_ALLOWED_ADDRESSES=ADDRESS[-ADDRESS|/PREFIX] "
            "(e.g. 127.0.0.10-127.0.0.99)"
        )
    if "robots" in reasons:
        return (
            "robots.txt disallows the start URLs: pick start URLs it allows, or, with stated "
            "authority, crawl with --ignore-robots --authority TEXT"
        )
    if "scheme" in reasons:
        return "start URLs must be http:// or https:// (fix start_urls or --start-url)"
    if "offsite" in reasons or "allow-list" in reasons:
        return "the start URLs are not on the platform's allowed_hosts: add their host there"
    if reasons:
        return (
            f"start URLs refused ({', '.join(sorted(reasons))}): see the refusal lines in the log"
        )
    return None


def assess(
    platform: str,
    stats: Mapping[str, Any],
    ads: int,
    finish_reason: str | None = None,
) -> Health:
    """The health and finish state of one platform's crawl (DESIGN.md "Finish states")."""
    reason = str(finish_reason or stats.get("finish_reason") or "unknown")
    health = Health(
        platform=platform,
        state="finished",
        finish_reason=reason,
        pages=_int(stats, "response_received_count"),
        listing_pages=_int(stats, LISTING_PAGES),
        ad_links=_int(stats, AD_LINKS),
        detail_pages=_int(stats, DETAIL_PAGES),
        ads=int(ads),
        ads_not_stored=_int(stats, ADS_NOT_STORED),
        already_stored=_int(stats, ALREADY_STORED),
        without_id=_int(stats, WITHOUT_ID),
        missing_required=_int(stats, MISSING_REQUIRED),
        errors=_int(stats, "log_count/ERROR"),
        start_urls=_int(stats, START_URLS),
        start_refused=_int(stats, START_REFUSED),
        refusals=_by_reason(stats, REFUSED_PREFIX),
        start_refusals=_by_reason(stats, START_REFUSED),
    )
    health.state = _state(health, stats)
    return health


def _state(h: Health, stats: Mapping[str, Any]) -> str:
    if h.finish_reason == STOP_REASON:
        return "stopped"
    if h.finish_reason not in COMPLETE_REASONS:
        h.problems.append(f"the crawl ended as {h.finish_reason!r}")
        return "failed"
    fetched = _int(stats, START_FETCHED)
    if h.start_urls and h.start_refused >= h.start_urls and not fetched:
        guard = _by_reason(stats, f"{REFUSED_PREFIX}/ssrf")
        h.problems.append(f"every start URL refused ({_reasons(h.start_refusals)})")
        h.fix = refusal_fix(h.start_refusals, guard)
        return "refused"
    if h.ads == 0 and h.already_stored == 0:
        if h.pages == 0:
            h.problems.append("no page could be fetched (site down or unreachable?)")
        elif h.finish_reason != "finished":
            h.problems.append(f"the budget ({h.finish_reason}) ended the crawl before any advert")
        elif "site_given_up" in h.refusals:
            h.problems.append(
                "the site kept refusing requests (429/503) and was given up for this crawl"
            )
        elif h.ad_links == 0:
            h.problems.append("no advert links found: check [listing] ad_links against the site")
        elif h.detail_pages and h.empty_detail_pages >= h.detail_pages:
            h.problems.append(
                "no detail page gave an advert: check [detail] external_id against the site"
            )
        else:
            h.problems.append("no advert stored")
        return "empty"
    degraded = False
    if h.detail_pages and h.empty_detail_pages > EMPTY_SHARE * h.detail_pages:
        h.problems.append(
            f"{h.empty_detail_pages} of {h.detail_pages} detail pages empty: "
            "the definition's detail selectors may no longer match the site"
        )
        degraded = True
    if h.ads_not_stored:
        h.problems.append(f"{h.ads_not_stored} advert(s) not stored by the evidence writer")
        degraded = True
    if h.errors:
        h.problems.append(f"{h.errors} error(s) in the crawl log")
        degraded = True
    return "degraded" if degraded else "finished"


def _reasons(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no reason recorded"


def worst(states: Iterable[str]) -> str:
    """The worst of several states (``finished`` for none)."""
    return max(states, key=STATES.index, default="finished")


def exit_code(state: str, stop_signal: int | None = None) -> int:
    """The exit status of ``adarchive crawl`` for a finish state (stopped: 128 + signal)."""
    if state == "stopped" and stop_signal:
        return 128 + stop_signal
    return EXIT_CODES.get(state, 1)
