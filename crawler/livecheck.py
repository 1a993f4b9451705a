"""`platform check NAME --live`: one listing page and one advert, fetched politely, shown in full.

Before a crawl, a definition is tried against the real site: the first start
URL is fetched as a listing page, then the first advert it links to, through
the crawl's own middlewares (address guard, robots.txt with Crawl-delay,
download delay, honest User-Agent). Nothing is archived or stored; every
field the definition reads and the identifiers extraction finds are
returned, with what went wrong when nothing could be read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import scrapy
from itemadapter import ItemAdapter
from scrapy.http import Response

from crawler.fields import extract_fields, extract_links
from crawler.platforms import PlatformDefinition
from spiders.base import DefinitionSpider

# A live check archives and stores nothing and needs no progress rows.
LIVE_SETTINGS: dict[str, Any] = {
    "ITEM_PIPELINES": {},
    "ADARCHIVE_WARC_ENABLED": False,
    "ADARCHIVE_PROGRESS_INTERVAL": 0,
    "ADARCHIVE_PROGRESS_BAR": False,
    "CLOSESPIDER_PAGECOUNT": 0,
    "LOG_LEVEL": "WARNING",
}


@dataclass
class LiveReport:
    """What one listing page and one advert gave."""

    listing_url: str | None = None
    ad_links: list[str] = field(default_factory=list)
    next_page: list[str] = field(default_factory=list)
    ad_url: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    identifiers: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "listing": {
                "url": self.listing_url,
                "ad_links": self.ad_links,
                "next_page": self.next_page,
            },  # fmt: skip
            "advert": {"url": self.ad_url, "fields": self.fields},
            "identifiers": self.identifiers,
        }


class LiveCheckSpider(DefinitionSpider):
    """The definition spider, stopped after the first listing page and its first advert."""

    report: LiveReport

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.start_urls = self.start_urls[:1]  # one listing page

    def parse_listing(self, response: Response) -> list[scrapy.Request]:
        definition = self.definition
        self.report.listing_url = response.url
        self.report.ad_links = extract_links(response, definition.ad_links, response.url)
        self.report.next_page = extract_links(response, definition.next_page, response.url)
        pager = set(self.report.next_page)
        adverts = [u for u in self.report.ad_links if u not in pager]
        return self._follow(adverts[:1], "detail", self.parse_live_detail, response.url)

    def parse_live_detail(self, response: Response) -> None:
        from crawler.extract.helper_process import extraction_args, identifiers_for

        self.report.ad_url = response.url
        self.report.fields = extract_fields(response, self.definition, response.url)
        advert = self.parse_detail(response)
        if advert is not None:
            self.report.identifiers = identifiers_for(*extraction_args(ItemAdapter(advert)))


def live_check(definition: PlatformDefinition, settings: Any, start_url: str | None) -> LiveReport:
    """Fetch one listing page and one advert of ``definition`` with the crawl's politeness."""
    from scrapy.crawler import CrawlerProcess

    for key, value in LIVE_SETTINGS.items():
        settings.set(key, value, priority="cmdline")
    report = LiveReport()
    spider_cls = type(
        f"{definition.name.title().replace('_', '')}LiveCheck",
        (LiveCheckSpider,),
        {"name": definition.name, "definition": definition, "report": report,
         "__module__": __name__},
    )  # fmt: skip
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(spider_cls)
    kwargs = {"start_url": start_url} if start_url else {}
    process.crawl(crawler, **kwargs)
    process.start()
    report.stats = dict(crawler.stats.get_stats()) if crawler.stats else {}
    return report
