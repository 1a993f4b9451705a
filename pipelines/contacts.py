"""Contacts pipeline: extract contact identifiers from an ad's text fields.

Runs ``crawler.extract`` over ``title``, ``body``, ``name`` and ``contacts``
(the contact texts and link targets, joined by newlines into one text) and
stores the findings on the item's ``identifiers`` field, each with the field
it came from and its offsets in that field's text, for the store pipeline.
Links back to the ad's own site are not "off-platform" and are dropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from itemadapter import ItemAdapter
from scrapy.exceptions import NotConfigured

from crawler.extract import extract_identifiers

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler

TEXT_FIELDS = ("title", "body", "name")
CONTACTS_FIELD = "contacts"


class ContactsPipeline:
    """Fills ``item["identifiers"]`` with ``{kind, value, match, start, end, channel, field}``."""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ContactsPipeline:
        if not crawler.settings.getbool("ADARCHIVE_CONTACTS_ENABLED", True):
            raise NotConfigured("ADARCHIVE_CONTACTS_ENABLED is False")
        return cls()

    def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        adapter = ItemAdapter(item)
        region = adapter.get("region") or None
        own_host = _host(adapter.get("url"))
        found: list[dict[str, Any]] = []
        for field, text in _texts(adapter):
            for ident in extract_identifiers(text, region):
                if ident.kind == "url" and own_host and _host(ident.value) == own_host:
                    continue
                found.append(
                    {
                        "kind": ident.kind,
                        "value": ident.value,
                        "match": ident.match,
                        "start": ident.start,
                        "end": ident.end,
                        "channel": ident.channel,
                        "field": field,
                    }
                )
        adapter["identifiers"] = found
        return item


def _texts(adapter: ItemAdapter) -> list[tuple[str, str]]:
    """(field name, text) pairs; ``contacts`` is one text, one entry per line."""
    texts = [(f, adapter.get(f)) for f in TEXT_FIELDS if f in adapter]
    contacts = adapter.get(CONTACTS_FIELD) if CONTACTS_FIELD in adapter else None
    if isinstance(contacts, str):
        texts.append((CONTACTS_FIELD, contacts))
    elif contacts:
        texts.append((CONTACTS_FIELD, "\n".join(str(c) for c in contacts if c)))
    return [(f, t) for f, t in texts if isinstance(t, str) and t]


def _host(url: object) -> str | None:
    if not isinstance(url, str) or not url:
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.lower().removeprefix("www.") if host else None
