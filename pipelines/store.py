"""Store pipeline: upsert the ad, add a sighting, link identifiers and images to the capture."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import TYPE_CHECKING, Any

from itemadapter import ItemAdapter
from scrapy.exceptions import NotConfigured
from sqlalchemy import select

from crawler.store.models import Ad, AdIdentifier, AdImage, Identifier, Sighting, utc
from crawler.store.recorder import CrawlRecorder
from crawler.store.upsert import get_or_create_id

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler

WHITESPACE = re.compile(r"\s+")
AD_TEXT_FIELDS = ("title", "body", "name", "age", "location", "price", "posted", "poster_account")


def normalised_text(fields: dict[str, Any]) -> str:
    """The ad's text in a stable form: NFC, whitespace collapsed, fields in a fixed order."""
    parts = []
    for name in (*AD_TEXT_FIELDS, "contacts"):
        value = fields.get(name)
        if isinstance(value, list):
            value = "\n".join(value)
        value = WHITESPACE.sub(" ", unicodedata.normalize("NFC", value or "")).strip()
        parts.append(f"{name}={value}")
    return "\n".join(parts)


def text_sha256(fields: dict[str, Any]) -> str:
    return hashlib.sha256(normalised_text(fields).encode("utf-8")).hexdigest()


class StorePipeline:
    """Writes each Ad into the store, keyed by (platform, external_id).

    A recrawl of a known ad adds a sighting (with the SHA-256 of its normalised
    text) and moves ``last_seen`` and the proof capture forward; it never
    creates a second ad row.
    """

    def __init__(self, recorder: CrawlRecorder) -> None:
        self.recorder = recorder
        self._identifier_ids: dict[tuple[str, str], int] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        if not crawler.settings.getbool("ADARCHIVE_STORE_ENABLED", True):
            raise NotConfigured("ADARCHIVE_STORE_ENABLED is off")
        return cls(CrawlRecorder.for_crawler(crawler))

    def open_spider(self, spider: Spider | None = None) -> None:
        pass

    def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        fields = ItemAdapter(item).asdict()
        self.store_ad(fields)
        return item

    def store_ad(self, fields: dict[str, Any]) -> Ad:
        recorder = self.recorder
        session = recorder.session
        platform_id = recorder.platform_id
        if platform_id is None or recorder.platform != fields["platform"]:
            platform_id = recorder.ensure_platform(
                fields["platform"], fields.get("region"), fields.get("language")
            ).id
        seen_at = fields["fetched_at"]
        capture_id = fields.get("capture_id")
        digest = text_sha256(fields)
        ad_id, created = get_or_create_id(
            session,
            Ad,
            {"platform_id": platform_id, "external_id": fields["external_id"]},
            {
                "url": fields["url"],
                "first_seen": seen_at,
                "last_seen": seen_at,
                "first_capture_id": capture_id,
            },
        )
        ad = session.get(Ad, ad_id)
        assert ad is not None
        if created:
            recorder.stats["new_ads"] += 1
        recorder.stats["ads"] += 1
        ad.url = fields["url"]
        ad.last_seen = max(seen_at, utc(ad.last_seen) or seen_at)
        for name in AD_TEXT_FIELDS:
            setattr(ad, name, fields.get(name))
        ad.text_sha256 = digest
        ad.capture_id = capture_id
        session.flush()
        session.add(
            Sighting(
                ad_id=ad.id,
                crawl_id=recorder.crawl_id,
                capture_id=capture_id,
                seen_at=seen_at,
                text_sha256=digest,
            )
        )
        self._store_identifiers(ad, fields.get("identifiers") or [], capture_id)
        self._store_images(ad, fields.get("images") or [], capture_id)
        session.flush()
        recorder.store.touch()
        return ad

    def _identifier_id(self, kind: str, value: str) -> int:
        key = (kind, value)
        cached = self._identifier_ids.get(key)
        if cached is not None:
            return cached
        identifier_id, _ = get_or_create_id(
            self.recorder.session, Identifier, {"kind": kind, "value": value}
        )
        self._identifier_ids[key] = identifier_id
        return identifier_id

    def _store_identifiers(self, ad: Ad, found: list[dict], capture_id: int | None) -> None:
        session = self.recorder.session
        seen: set[tuple] = set()
        # Insert in a fixed order, so concurrent writers never wait on each other in a cycle.
        for ident in sorted(found, key=lambda i: (i["kind"], i["value"], i["start"])):
            identifier_id = self._identifier_id(ident["kind"], ident["value"])
            key = (identifier_id, ident.get("field") or "", ident["start"])
            if key in seen:
                continue
            seen.add(key)
            session.add(
                AdIdentifier(
                    ad_id=ad.id,
                    identifier_id=identifier_id,
                    capture_id=capture_id,
                    field=ident.get("field") or "",
                    match=ident["match"],
                    start=ident["start"],
                    end=ident["end"],
                    channel=ident.get("channel"),
                )
            )

    def _store_images(self, ad: Ad, urls: list[str], capture_id: int | None) -> None:
        session = self.recorder.session
        known = set(session.scalars(select(AdImage.url).where(AdImage.ad_id == ad.id)))
        for url in urls:
            if url not in known:
                session.add(AdImage(ad_id=ad.id, url=url, capture_id=capture_id))
                known.add(url)
