"""The crawl's stance toward sites: robots.txt override and User-Agent, with their justification.

Obeying robots.txt and an honest User-Agent are the defaults. Ignoring
robots.txt needs a stated authority (``--ignore-robots --authority "warrant
…"``), a browser-like agent needs a stated reason (``--user-agent …
--user-agent-reason …``). Both are checked before a crawl starts, written into
every warcinfo record and the crawl's settings, and logged as a
``crawl.policy`` custody event.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from scrapy import signals

from crawler.useragent import honest_user_agent

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

CUSTODY_ACTION = "crawl.policy"


class PolicyError(ValueError):
    """A crawl policy without its required justification; one line for the user."""


def policy_overrides(
    ignore_robots: bool,
    authority: str | None,
    user_agent: str | None,
    user_agent_reason: str | None,
) -> dict[str, Any]:
    """Settings for the CLI flags, refusing an override without its justification."""
    out: dict[str, Any] = {}
    if authority is not None and not authority.strip():
        raise PolicyError("--authority must not be empty")
    if ignore_robots:
        if not authority:
            raise PolicyError(
                "--ignore-robots needs --authority TEXT (the legal authority, e.g. a warrant "
                "reference), which is recorded in every WARC file and the custody log"
            )
        out["ROBOTSTXT_OBEY"] = False
        out["ADARCHIVE_ROBOTS_AUTHORITY"] = authority.strip()
    elif authority:
        raise PolicyError("--authority is only used with --ignore-robots")
    if user_agent_reason is not None and not user_agent_reason.strip():
        raise PolicyError("--user-agent-reason must not be empty")
    if user_agent:
        if not user_agent_reason:
            raise PolicyError(
                "--user-agent needs --user-agent-reason TEXT: an agent other than the honest "
                "default is used only for a stated reason, recorded with the crawl"
            )
        out["ADARCHIVE_USER_AGENT"] = user_agent
        out["ADARCHIVE_USER_AGENT_REASON"] = user_agent_reason.strip()
    elif user_agent_reason:
        raise PolicyError("--user-agent-reason is only used with --user-agent")
    return out


def check_policy(settings: Any) -> None:
    """Refuse settings (however they were set, ``-s`` included) that skip a justification."""
    if not settings.getbool("ROBOTSTXT_OBEY") and not settings.get("ADARCHIVE_ROBOTS_AUTHORITY"):
        raise PolicyError(
            "robots.txt may be ignored only with a stated authority: use "
            "--ignore-robots --authority TEXT (or set ADARCHIVE_ROBOTS_AUTHORITY)"
        )
    agent = settings.get("ADARCHIVE_USER_AGENT")
    honest = honest_user_agent(str(settings.get("ADARCHIVE_OPERATOR_CONTACT")))
    if agent and agent != honest and not settings.get("ADARCHIVE_USER_AGENT_REASON"):
        raise PolicyError(
            "a User-Agent other than the honest default needs a stated reason: use "
            "--user-agent-reason TEXT (or set ADARCHIVE_USER_AGENT_REASON)"
        )


def policy_record(settings: Any) -> dict[str, Any]:
    """The policy as recorded (warcinfo, crawl settings, custody)."""
    from crawler.useragent import user_agent_from_settings

    obey = settings.getbool("ROBOTSTXT_OBEY")
    reason = settings.get("ADARCHIVE_USER_AGENT_REASON")
    return {
        "robots": "obeyed" if obey else "ignored",
        "robots_authority": None if obey else settings.get("ADARCHIVE_ROBOTS_AUTHORITY"),
        "user_agent": user_agent_from_settings(settings),
        "user_agent_policy": (
            f"configured agent, reason: {reason}"
            if settings.get("ADARCHIVE_USER_AGENT")
            else "honest default (names the project and the operator contact)"
        ),
    }


def warcinfo_policy_fields(settings: Any, platform: str) -> dict[str, object]:
    """Extra warcinfo fields: robots override authority, User-Agent policy, budget, proxy."""
    from crawler.politeness.budget import budget_for

    record = policy_record(settings)
    budget = budget_for(settings, platform)
    return {
        "robots-override-authority": record["robots_authority"],
        "user-agent-policy": record["user_agent_policy"],
        "budget": budget.describe(),
        "proxy": budget.as_record()["proxy"],
    }


class PolicyExtension:
    """Checks the policy when a crawler starts and logs it as a custody event."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PolicyExtension:
        check_policy(crawler.settings)
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        return ext

    def spider_opened(self, spider: Spider) -> None:
        record = policy_record(self.crawler.settings)
        if record["robots"] == "ignored":
            logger.warning(
                "robots.txt IGNORED for %s under authority: %s",
                spider.name,
                record["robots_authority"],
            )
        if self.crawler.settings.get("ADARCHIVE_USER_AGENT"):
            logger.warning("User-Agent %r: %s", record["user_agent"], record["user_agent_policy"])
        from crawler.politeness.budget import budget_for

        budget = budget_for(self.crawler.settings, spider.name).as_record()
        record_custody(self.crawler, spider, CUSTODY_ACTION, {**record, "budget": budget})


def record_custody(crawler: Crawler, spider: Spider, action: str, details: dict[str, Any]) -> None:
    """Append a custody event about this crawl, when the custody log and a store exist."""
    try:
        from crawler.evidence.custody import record_event
        from crawler.evidence.events import crawl_subject
        from crawler.store.recorder import CrawlRecorder
    except ImportError:  # custody log not part of this build
        return
    recorder = getattr(crawler, CrawlRecorder.ATTR, None)
    if recorder is None:
        return
    crawl_id = recorder.start_crawl(spider)
    recorder.store.commit()  # the custody helper wants a clean session
    record_event(
        recorder.session, action, crawl_subject(crawl_id), {"crawl_id": crawl_id, **details}
    )
