"""`platform check --page`: what a definition's selectors extract from a saved page.

This is the loop a user runs while writing a definition: save a page, run the
check, fix a selector, run it again. The page is decoded exactly as the
crawler would decode it (HTTP-less, so from ``<meta charset>`` or sniffing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crawler.fields import extract_field, extract_links
from crawler.platforms import PlatformDefinition


class PageError(RuntimeError):
    """The saved page cannot be read."""


def check_page(definition: PlatformDefinition, page: Path, url: str) -> dict[str, Any]:
    """Every listing link and detail field the definition finds on the page."""
    from scrapy.http import HtmlResponse

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
