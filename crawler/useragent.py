"""The User-Agent: honest by default, naming the project and a contact."""

from __future__ import annotations

from typing import TYPE_CHECKING

from crawler import __version__

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings


def honest_user_agent(contact: str) -> str:
    """The default agent: who we are and how a site operator reaches us."""
    return f"adarchive/{__version__} (+evidence crawler; contact: {contact})"


def user_agent_from_settings(settings: BaseSettings) -> str:
    configured = settings.get("ADARCHIVE_USER_AGENT")
    if configured:
        return str(configured)
    return honest_user_agent(str(settings.get("ADARCHIVE_OPERATOR_CONTACT")))


class HonestUserAgentMiddleware:
    """Sets the User-Agent on every request that does not carry one."""

    def __init__(self, user_agent: str) -> None:
        self.user_agent = user_agent

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> HonestUserAgentMiddleware:
        return cls(user_agent_from_settings(crawler.settings))

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        request.headers.setdefault(b"User-Agent", self.user_agent)
