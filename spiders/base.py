"""The generic listing → detail spider, driven by a platform definition.

The spider only navigates; what a page means is in the definition (see
``crawler.fields``). Start URLs can be overridden per run (``start_url``
spider argument), because the fixture web and mirrored platforms move ports.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import scrapy
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from twisted.python.failure import Failure
from w3lib.url import canonicalize_url

from crawler import health
from crawler.fields import extract_fields, extract_links
from crawler.guard.scheme import scheme_refusal, url_scheme
from crawler.items import Ad
from crawler.keyset import KeySet, digest_key
from crawler.platforms import DETAIL_REQUIRED, PlatformDefinition, host_allowed
from crawler.politeness.refusals import note_refusal

# Set by a guard that refuses a request (``ssrf``, ``robots``, ...), so the
# spider can say why its start URLs were refused (crawler/health.py).
REFUSED_META = "adarchive_refused"


class DefinitionSpider(scrapy.Spider):
    """Crawls one platform as its definition describes."""

    name = "definition"
    definition: ClassVar[PlatformDefinition]

    def __init__(self, *args: Any, start_url: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        urls = [u.strip() for u in (start_url or "").split(",") if u.strip()]
        self.start_urls = urls or list(self.definition.start_urls)
        self.allowed_hosts = tuple(self.definition.allowed_hosts)
        for url in self.start_urls:
            host = urlsplit(url).hostname or ""
            if not host_allowed(host, self.allowed_hosts):
                # A start URL given on the command line names its own host as allowed.
                self.allowed_hosts = (*self.allowed_hosts, host.lower())
        # Scrapy's offsite middleware filters redirects with the same list.
        self.allowed_domains = list(self.allowed_hosts)
        # Canonical URLs requested as detail pages (as 16-byte digests: this grows
        # with the crawl, issue 21): a later next_page link to one of them is
        # fetched again as a listing page instead of dropped as a duplicate.
        self._detail_urls = KeySet()

    @classmethod
    def update_settings(cls, settings: Any) -> None:
        super().update_settings(settings)
        # Browser-rendered platforms (issue 6): pages go through scrapy-playwright
        # (crawler.browser); static platforms never start a browser.
        definition = getattr(cls, "definition", None)
        if definition is not None and definition.needs_browser:
            from crawler.browser.launch import apply_browser_settings

            apply_browser_settings(settings)

    def _meta(self, role: str, **extra: Any) -> dict[str, Any]:
        """Request meta for a page of ``role``; browser pages are marked for the browser handler."""
        meta = {"adarchive_role": role, **extra}
        if self.definition.render_for(role) == "browser":  # issue 6: crawler.browser.handler
            meta.update(playwright=True, adarchive_render=role)
        return meta

    @classmethod
    def for_definition(cls, definition: PlatformDefinition) -> type[DefinitionSpider]:
        """A spider class bound to one definition, named after the platform."""
        return type(
            f"{definition.name.title().replace('_', '')}Spider",
            (cls,),
            {"name": definition.name, "definition": definition, "__module__": __name__},
        )

    async def start(self) -> AsyncIterator[Any]:
        # Scrapy 2.19 silently ignores start_requests(); start() is the entry point.
        self.crawler.stats.set_value(health.START_URLS, len(self.start_urls))
        for url in self.start_urls:
            if urlsplit(url).scheme not in ("http", "https"):
                self._start_refused("scheme")
                note_refusal(self.crawler, "scheme", url, "only http(s) start URLs are crawled",
                             detail=url_scheme(url))  # fmt: skip
                continue
            yield scrapy.Request(
                url,
                callback=self.parse_listing,
                errback=self._start_failed,
                meta=self._meta("listing", adarchive_start=True),
            )

    def _start_refused(self, reason: str) -> None:
        self.crawler.stats.inc_value(health.START_REFUSED)
        self.crawler.stats.inc_value(f"{health.START_REFUSED}/{reason}")

    def _start_failed(self, failure: Failure) -> None:
        """A start URL that never reached parse_listing: refused (and why) or failed."""
        request = getattr(failure, "request", None)
        if failure.check(IgnoreRequest):
            reason = (request.meta.get(REFUSED_META) if request is not None else None) or "other"
            self._start_refused(str(reason))
        else:
            self.crawler.stats.inc_value("adarchive/start_failed")
            self.logger.error(
                "start URL %s failed: %s", getattr(request, "url", "?"), failure.getErrorMessage()
            )

    def _allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and host_allowed(
            parts.hostname or "", self.allowed_hosts
        )

    def _follow(
        self, urls: list[str], role: str, callback: Any, referer: str
    ) -> list[scrapy.Request]:
        requests = []
        for url in urls:
            why = scheme_refusal(url)
            if why is not None:  # javascript:, file:, ftp: … never become requests
                note_refusal(self.crawler, "scheme", url, why, detail=url_scheme(url))
                continue
            if not self._allowed(url):
                self.crawler.stats.inc_value("adarchive/offsite_links_skipped")
                # counted by reason for the crawl's health (crawler/health.py), logged at debug only
                web = urlsplit(url).scheme in ("http", "https")
                self.crawler.stats.inc_value(
                    f"{health.REFUSED_PREFIX}/{'allow-list' if web else 'scheme'}"
                )
                self.logger.debug("skipping off-platform link %s", url)
                continue
            key = digest_key(canonicalize_url(url))
            refetch = role == "listing" and key in self._detail_urls
            if role == "detail":
                self._detail_urls.add(key)
            elif refetch:
                # Fetched earlier as a detail page (a loose ad_links selector): a
                # pager link is a listing page, so fetch it again as one.
                self._detail_urls.discard(key)
                self.crawler.stats.inc_value("adarchive/listing_refetched")
            requests.append(
                scrapy.Request(
                    url,
                    callback=callback,
                    meta=self._meta(role, adarchive_referer=referer),
                    dont_filter=refetch,
                )
            )
        return requests

    def parse_listing(self, response: Response) -> list[scrapy.Request]:
        definition = self.definition
        stats = self.crawler.stats
        detail = extract_links(response, definition.ad_links, response.url)
        following = extract_links(response, definition.next_page, response.url)
        # A URL next_page selects is a listing page, whatever ad_links also selects.
        pager = {canonicalize_url(u) for u in following}
        overlap = [u for u in detail if canonicalize_url(u) in pager]
        if overlap:
            stats.inc_value(health.LINKS_ALSO_NEXT, len(overlap))
            detail = [u for u in detail if canonicalize_url(u) not in pager]
        stats.inc_value(health.LISTING_PAGES)
        stats.inc_value(health.AD_LINKS, len(detail))
        if response.meta.get("adarchive_start"):
            stats.inc_value(health.START_FETCHED)
        return [
            *self._follow(detail, "detail", self.parse_detail, response.url),
            *self._follow(following, "listing", self.parse_listing, response.url),
        ]

    def _capped_images(self, urls: list[str], page: str) -> list[str]:
        """The advert's first ``ADARCHIVE_IMAGES_MAX_PER_AD`` distinct image URLs.

        The cap bounds the ``ad_image`` rows as well as the fetches: a page with
        50,000 ``<img>`` must not write 50,000 rows.
        """
        distinct = list(dict.fromkeys(u for u in urls if isinstance(u, str)))
        cap = self.crawler.settings.getint("ADARCHIVE_IMAGES_MAX_PER_AD")
        if cap <= 0 or len(distinct) <= cap:
            return distinct
        self.crawler.stats.inc_value("adarchive/images/over_cap", len(distinct) - cap)
        self.logger.info(
            "%s lists %d images: the first %d kept (ADARCHIVE_IMAGES_MAX_PER_AD)",
            page,
            len(distinct),
            cap,
        )
        return distinct[:cap]

    def parse_detail(self, response: Response) -> Ad | None:
        definition = self.definition
        values = extract_fields(response, definition, response.url)
        self.crawler.stats.inc_value(health.DETAIL_PAGES)
        external_id = values.get("external_id")
        if not external_id:
            self.crawler.stats.inc_value(health.WITHOUT_ID)
            self.logger.warning("no external_id on %s: page not stored as an ad", response.url)
            return None
        if any(not values.get(key) for key in DETAIL_REQUIRED):
            self.crawler.stats.inc_value(health.MISSING_REQUIRED)
        capture = response.meta.get("adarchive_capture")
        images = self._capped_images(values.get("images") or [], response.url)
        fetched = getattr(capture, "fetched_at", None) or datetime.now(UTC)
        return Ad(
            platform=definition.name,
            external_id=str(external_id).split("\n")[0].strip(),
            url=response.url,
            fetched_at=fetched,
            title=values.get("title"),
            body=values.get("body"),
            name=values.get("name"),
            age=values.get("age"),
            location=values.get("location"),
            price=values.get("price"),
            posted=values.get("posted"),
            poster_account=values.get("poster_account"),
            images=images,
            contacts=list(values.get("contacts") or []),
            region=definition.country,
            language=definition.language,
            capture_id=response.meta.get("adarchive_capture_id"),
            capture_record_id=getattr(capture, "record_id", None),
            text_capture_id=response.meta.get("adarchive_dom_capture_id"),
        )
