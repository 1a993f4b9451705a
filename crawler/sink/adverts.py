"""Adverts into the store: upsert the ad, add a sighting, link identifiers and images.

Run by whichever sink stores the adverts (crawler/sink/evidence_sink.py): in the
crawl's process, or in the evidence writer process. The store pipeline only
hands items to the sink.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import logging
import re
import unicodedata
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, case, insert, update

from crawler.printable import printable
from crawler.store.db import begin_sqlite_transaction
from crawler.store.models import Ad, AdIdentifier, AdImage, Identifier, Sighting, value_sha256
from crawler.store.prepared import Prepared
from crawler.store.upsert import dialect_insert, get_or_create_id

if TYPE_CHECKING:
    from crawler.store.recorder import CrawlRecorder

logger = logging.getLogger(__name__)

WHITESPACE = re.compile(r"\s+")
# The crawler stat of adverts the store refused (each one also logged at ERROR);
# a crawl with any does not exit 0 (crawler.report.crawl_exit_status).
ADS_NOT_STORED = "adarchive/ads_not_stored"
# Identifier row ids remembered by an advert writer (about 250 bytes each): enough for
# the identifiers a crawl keeps meeting, few enough that memory stays flat (issue 21).
RECENT_IDENTIFIERS = 4_096
AD_TEXT_FIELDS = ("title", "body", "name", "age", "location", "price", "posted", "poster_account")


# Built once and run on the DBAPI cursor (crawler/store/prepared.py): they run for
# every advert, and on SQLite Core's execution costs more than the SQL itself.
_ad = Ad.__table__
_AD_UPDATED = (*AD_TEXT_FIELDS, "url", "text_sha256", "capture_id")
AD_UPDATE = Prepared(
    update(_ad)
    .where(_ad.c.id == bindparam("ad_id"))
    .values(
        {
            **{name: bindparam(name) for name in _AD_UPDATED},
            "last_seen": case(
                (_ad.c.last_seen < bindparam("seen_at"), bindparam("seen_at")),
                else_=_ad.c.last_seen,
            ),
        }
    ),
    (*_AD_UPDATED, "ad_id", "seen_at"),
)
SIGHTING_INSERT = Prepared(
    insert(Sighting.__table__), ("ad_id", "crawl_id", "capture_id", "seen_at", "text_sha256")
)
AD_IDENTIFIER_COLUMNS = (
    "ad_id", "identifier_id", "capture_id", "field", "match", "start", "end", "channel"
)  # fmt: skip


@functools.cache
def _link_inserts(dialect: str) -> tuple[Prepared, Prepared]:
    """ad_identifier and ad_image inserts that skip rows already there (per dialect)."""
    insert_for = dialect_insert(dialect)
    identifiers = insert_for(AdIdentifier.__table__).on_conflict_do_nothing()
    images = insert_for(AdImage.__table__).on_conflict_do_nothing(
        index_elements=["ad_id", "url_sha256"]
    )
    return (
        Prepared(identifiers, AD_IDENTIFIER_COLUMNS),
        Prepared(images, ("ad_id", "url", "url_sha256", "capture_id")),
    )


def ad_not_stored(stats: Any, fields: Mapping[str, Any], exc: BaseException) -> None:
    """Count and log (ERROR) an advert the store could not take: never a silent loss."""
    if stats is not None:
        stats.inc_value(ADS_NOT_STORED)
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    logger.error(
        "advert not stored: platform=%s external_id=%s url=%s: %s: %s",
        printable(fields.get("platform"), 100),
        printable(fields.get("external_id"), 200),
        printable(fields.get("url"), 300),
        type(exc).__name__,
        printable(reason, 500),
    )


def normalised_text(fields: Mapping[str, Any]) -> str:
    """The ad's text in a stable form: NFC, whitespace collapsed, fields in a fixed order."""
    parts = []
    for name in (*AD_TEXT_FIELDS, "contacts"):
        value = fields.get(name)
        if isinstance(value, list):
            value = "\n".join(value)
        value = WHITESPACE.sub(" ", unicodedata.normalize("NFC", value or "")).strip()
        parts.append(f"{name}={value}")
    return "\n".join(parts)


def text_sha256(fields: Mapping[str, Any]) -> str:
    return hashlib.sha256(normalised_text(fields).encode("utf-8")).hexdigest()


class AdvertWriter:
    """Writes each advert into the store, keyed by (platform, external_id).

    A recrawl of a known ad adds a sighting (with the SHA-256 of its normalised
    text) and moves ``last_seen`` and the proof capture forward; it never
    creates a second ad row.
    """

    def __init__(self, recorder: CrawlRecorder) -> None:
        self.recorder = recorder
        # The most recently used identifiers' row ids (networks reuse a few): bounded,
        # so a long crawl's memory stays flat; a miss is one indexed look-up.
        self._identifier_ids: collections.OrderedDict[tuple[str, str], int] = (
            collections.OrderedDict()
        )

    def store_ad_alone(self, fields: Mapping[str, Any]) -> int:
        """:meth:`store_ad` in a savepoint: an advert the store refuses is undone alone,
        the captures and adverts before it (not yet committed) stay."""
        store = self.recorder.store
        session = self.recorder.session
        begin_sqlite_transaction(session)
        counted = dict(self.recorder.stats)
        # No commit inside the savepoint (it would end it); a due one runs after it.
        every, store.commit_every = store.commit_every, 1 << 62
        try:
            with session.begin_nested():
                ad_id = self.store_ad(fields)
        except Exception:
            self.recorder.stats.update(counted)
            self.forget_cached_ids()
            raise
        finally:
            store.commit_every = every
        if store.pending >= every:
            store.commit()
        return ad_id

    def store_ad(self, fields: Mapping[str, Any]) -> int:
        """Upsert one ad with its sighting, identifiers and image references; return its id.

        Core statements rather than ORM objects: this runs once per captured
        advert and the unit of work's bookkeeping would cost more than the SQL.
        """
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
        current = {name: fields.get(name) for name in AD_TEXT_FIELDS}
        current.update(url=fields["url"], text_sha256=digest, capture_id=capture_id)
        ad_id, created = get_or_create_id(
            session,
            Ad,
            {
                "platform_id": platform_id,
                "external_id_sha256": value_sha256(fields["external_id"]),
            },
            {
                **current,
                "external_id": fields["external_id"],
                "first_seen": seen_at,
                "last_seen": seen_at,
                "first_capture_id": capture_id,
            },
        )
        if created:
            recorder.stats["new_ads"] += 1
        else:
            AD_UPDATE.execute(session, {**current, "ad_id": ad_id, "seen_at": seen_at})
        recorder.stats["ads"] += 1
        SIGHTING_INSERT.execute(
            session,
            {
                "ad_id": ad_id,
                "crawl_id": recorder.crawl_id,
                "capture_id": capture_id,
                "seen_at": seen_at,
                "text_sha256": digest,
            },
        )
        # Identifiers point at the bytes that show them: the rendered DOM for browser pages,
        # the response (whose target URI it is) for the page's own address.
        text_capture = fields.get("text_capture_id") or capture_id
        self._store_identifiers(ad_id, fields.get("identifiers") or [], text_capture, capture_id)
        self._store_images(ad_id, fields.get("images") or [], capture_id)
        recorder.store.touch()
        return ad_id

    def forget_cached_ids(self) -> None:
        """After a rollback: cached identifier ids may name rows that are gone."""
        self._identifier_ids.clear()

    def _identifier_id(self, kind: str, value: str) -> int:
        key = (kind, value)
        cached = self._identifier_ids.get(key)
        if cached is not None:
            self._identifier_ids.move_to_end(key)
            return cached
        identifier_id, _ = get_or_create_id(
            self.recorder.session,
            Identifier,
            {"kind": kind, "value_sha256": value_sha256(value)},
            {"value": value},
        )
        self._identifier_ids[key] = identifier_id
        if len(self._identifier_ids) > RECENT_IDENTIFIERS:
            self._identifier_ids.popitem(last=False)
        return identifier_id

    def _store_identifiers(
        self, ad_id: int, found: list[dict], capture_id: int | None, url_capture: int | None
    ) -> None:
        rows = []
        seen: set[tuple] = set()
        # Insert in a fixed order, so concurrent writers never wait on each other in a cycle.
        for ident in sorted(found, key=lambda i: (i["kind"], i["value"], i["start"])):
            identifier_id = self._identifier_id(ident["kind"], ident["value"])
            key = (identifier_id, ident.get("field") or "", ident["start"])
            if key in seen:
                continue
            seen.add(key)
            rows.append(
                {
                    "ad_id": ad_id,
                    "identifier_id": identifier_id,
                    "capture_id": url_capture if ident.get("field") == "url" else capture_id,
                    "field": ident.get("field") or "",
                    "match": ident["match"],
                    "start": ident["start"],
                    "end": ident["end"],
                    "channel": ident.get("channel"),
                }
            )
        if rows:
            # Idempotent: re-reading the same capture (a resumed crawl) adds nothing twice.
            session = self.recorder.session
            _link_inserts(session.get_bind().dialect.name)[0].executemany(session, rows)

    def _store_images(self, ad_id: int, urls: list[str], capture_id: int | None) -> None:
        rows = [
            {"ad_id": ad_id, "url": url, "url_sha256": value_sha256(url), "capture_id": capture_id}
            for url in dict.fromkeys(urls)
        ]
        if rows:
            session = self.recorder.session
            _link_inserts(session.get_bind().dialect.name)[1].executemany(session, rows)
