"""`platform check`: what the crawl would refuse, and (``--page``) what the selectors extract.

This is the loop a user runs while writing a definition: save a page, run the
check, fix a selector, run it again. The page is decoded exactly as the
crawler would decode it (HTTP-less, so from ``<meta charset>`` or sniffing).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from crawler.guard.address import check_address, literal_address
from crawler.guard.urlscheme import scheme_refusal
from crawler.platforms import PlatformDefinition


def start_url_refusals(definition: PlatformDefinition) -> tuple[list[str], list[str]]:
    """(refused, notes) for the start URLs: what the crawl refuses whatever its settings
    (a scheme other than http/https), and what it refuses unless allowed (a non-public
    address literal, allowed only by ADARCHIVE_ALLOWED_ADDRESSES). Names are not resolved."""
    from urllib.parse import urlsplit

    refused, notes = [], []
    for url in definition.start_urls:
        why = scheme_refusal(url)
        if why is not None:
            refused.append(f"{url}: {why}")
            continue
        host = urlsplit(url).hostname or ""
        if literal_address(host) is not None:
            decision = check_address(host)
            if not decision.allowed:
                notes.append(
                    f"{url}: {decision.address} is {decision.reason}: refused by the SSRF "
                    "guard unless ADARCHIVE_ALLOWED_ADDRESSES allows it"
                )
    return refused, notes


def check_page(definition: PlatformDefinition, page: Path, url: str) -> dict[str, Any]:
    """Every listing link and detail field the definition finds on the page."""
    from scrapy.http import HtmlResponse

    # Here, with Scrapy: BeautifulSoup and lxml (0.1 s of CPU) only when a page is checked,
    # not for every `platform check` or the workbench's platform pages.
    from crawler.fields import extract_field, extract_links
    from crawler.runner import CrawlSetupError

    try:
        body = page.read_bytes()
    except OSError as exc:
        raise CrawlSetupError(f"cannot read page {page}: {exc.strerror}") from None
    response = HtmlResponse(url=url, body=body)
    listing = {
        "ad_links": extract_links(response, definition.ad_links, url),
        "next_page": extract_links(response, definition.next_page, url),
    }
    detail: dict[str, Any] = {}
    missing = []
    for name, spec in definition.fields.items():
        value = extract_field(response, spec, url, name)
        detail[name] = value
        if not value:
            missing.append(name)
    return {
        "url": url,
        "encoding": response.encoding,
        "listing": listing,
        "detail": detail,
        "empty_fields": missing,
    }


_BARE_LINK = re.compile(
    r"^(?:css:)?\s*(?:\*|a)?\s*(?:::attr\(href\))?\s*$|^xpath:\s*//a(?:/@href)?\s*$"
)


def selector_overlap_warnings(
    definition: PlatformDefinition, listing: dict[str, list[str]] | None = None
) -> list[str]:
    """Warnings when ``ad_links`` can select the pages ``next_page`` selects.

    The crawler treats such a URL as a listing page (next_page wins), but a
    loose ``ad_links`` usually also fetches other non-advert pages as detail
    pages. Without a page the check is by shape (a bare ``a`` selector);
    with one (``--page``, ``--live``) it names the URLs both select.
    """
    if definition.next_page is None:
        return []
    warnings = []
    last = re.split(r"\s+|>", definition.ad_links.expression.strip())[-1]
    if _BARE_LINK.match(f"{definition.ad_links.kind}:{last}"):
        warnings.append(
            f"warning: ad_links ({definition.ad_links.selector}) selects every link, so it "
            "overlaps next_page: pager links are crawled as listing pages (next_page wins), but "
            "other links become detail pages; narrow ad_links to the advert links"
        )
    if listing is not None:
        both = sorted(set(listing.get("ad_links", [])) & set(listing.get("next_page", [])))
        if both:
            warnings.append(
                f"warning: ad_links also selects {len(both)} next_page link(s) "
                f"({', '.join(both[:3])}): they are crawled as listing pages (next_page wins)"
            )
    return warnings
