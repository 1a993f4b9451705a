"""Issue 14: no value a page can produce keeps an advert out of the store (SQLite and PostgreSQL).

Values are incompressible (random), 10 kB each: repeated text compresses and
can slip under PostgreSQL's index-entry limit by luck.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from test_store_engines import make_pipeline

from crawler.store.db import make_engine, open_store, upgrade_schema
from crawler.store.models import Ad, AdImage, Capture, Identifier, value_sha256
from crawler.store.recorder import release_store

SIZE = 10_000


def noise(size: int = SIZE) -> str:
    """``size`` characters of random URL-safe text (no repeats to compress)."""
    return secrets.token_urlsafe(size)[:size]


def long_fields(when: datetime, values: dict[str, str]) -> dict[str, Any]:
    return {
        "platform": "long_board",
        "external_id": values["external_id"],
        "url": "http://127.0.0.50/ad/" + values["url"],
        "fetched_at": when,
        **{name: values[name] for name in ("title", "body", "name", "age", "location", "price",
                                           "posted", "poster_account")},
        "region": "GB",
        "identifiers": [
            {"kind": "url", "value": "https://t.me/" + values["identifier"],
             "match": values["identifier"], "start": 0, "end": SIZE, "field": "body"},
        ],
        "images": ["http://127.0.0.50/img/" + values["image"]],
    }  # fmt: skip


def test_incompressible_10kb_values_are_stored_and_found_again(store_url: str) -> None:
    names = ("external_id", "url", "title", "body", "name", "age", "location", "price",
             "posted", "poster_account", "identifier", "image")  # fmt: skip
    values = {name: noise() for name in names}
    pipeline = make_pipeline(store_url)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        first = pipeline.store_ad(long_fields(t0, values))
        again = pipeline.store_ad(long_fields(t0 + timedelta(hours=1), values))  # a recrawl
        session = pipeline.recorder.session
        session.add(
            Capture(kind="response", url="http://127.0.0.50/" + values["url"], fetched_at=t0,
                    content_type="text/html; x=" + noise())
        )  # fmt: skip
        pipeline.recorder.store.commit()
        assert first == again
        ad = session.get(Ad, first)
        assert ad.external_id == values["external_id"] and ad.posted == values["posted"]
        assert ad.external_id_sha256 == value_sha256(values["external_id"])
        ident = session.scalar(select(Identifier))
        assert ident.value == "https://t.me/" + values["identifier"]
        assert session.scalar(select(func.count(Identifier.id))) == 1
        assert session.scalar(select(func.count(AdImage.id))) == 1
        found = session.scalar(
            select(func.count(Capture.id)).where(
                Capture.url == "http://127.0.0.50/" + values["url"]
            )
        )
        assert found == 1
    finally:
        release_store(pipeline.recorder.store)


def test_migration_keeps_existing_data(store_url: str) -> None:
    engine = make_engine(store_url)
    upgrade_schema(engine, "0003")
    t = datetime(2025, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:

        def insert(sql: str, **params: Any) -> int:
            return int(conn.execute(text(sql + " RETURNING id"), params).scalar_one())

        platform = insert("INSERT INTO platform (name, created_at) VALUES ('old_board', :t)", t=t)
        ad = insert(
            "INSERT INTO ad (platform_id, external_id, url, first_seen, last_seen)"
            " VALUES (:p, 'old-1', 'http://127.0.0.50/ad/old-1', :t, :t)",
            p=platform,
            t=t,
        )
        insert("INSERT INTO identifier (kind, value) VALUES ('phone', '+7')")
        insert("INSERT INTO ad_image (ad_id, url) VALUES (:a, 'http://127.0.0.50/i.png')", a=ad)
        insert("INSERT INTO sighting (ad_id, seen_at, text_sha256) VALUES (:a, :t, 'x')", a=ad, t=t)
    upgrade_schema(engine)  # 0003 -> newest, over existing rows
    with engine.connect() as conn:
        assert conn.execute(text("SELECT external_id_sha256 FROM ad")).scalar() == value_sha256(
            "old-1"
        )
        assert conn.execute(text("SELECT value_sha256 FROM identifier")).scalar() == (
            value_sha256("+7")
        )
        assert conn.execute(text("SELECT url_sha256 FROM ad_image")).scalar() == value_sha256(
            "http://127.0.0.50/i.png"
        )
        assert conn.execute(text("SELECT count(*) FROM sighting")).scalar() == 1
    engine.dispose()
    # the old advert is found by its new key: a recrawl adds a sighting, not a second ad
    pipeline = make_pipeline(store_url)
    try:
        fields = {
            "platform": "old_board", "external_id": "old-1",
            "url": "http://127.0.0.50/ad/old-1", "fetched_at": datetime(2026, 1, 1, tzinfo=UTC),
            "identifiers": [{"kind": "phone", "value": "+7", "match": "+7", "start": 0,
                             "end": 2, "field": "body"}],
            "images": ["http://127.0.0.50/i.png"],
        }  # fmt: skip
        assert pipeline.store_ad(fields) == ad
        pipeline.recorder.store.commit()
        session = pipeline.recorder.session
        assert session.scalar(select(func.count(Ad.id))) == 1
        assert session.scalar(select(func.count(Identifier.id))) == 1
        assert session.scalar(select(func.count(AdImage.id))) == 1
    finally:
        release_store(pipeline.recorder.store)
    factory = open_store(store_url, create=False)
    factory.kw["bind"].dispose()


def test_incompressible_10kb_values_people_give(store_url: str) -> None:
    """A watched identifier, an examiner's name, a language tag, a finish reason: 10 kB each."""
    from crawler.evidence.custody import record_event
    from crawler.schedule.watchlist import add_watches, remove_watch, scan
    from crawler.store.models import Crawl, CustodyEvent, Platform, Watch, WatchHit

    values = {name: noise() for name in ("identifier", "actor", "reason")}
    language = "en-" + secrets.token_hex(SIZE // 2)[: SIZE - 3]  # the tag pattern has no bound
    pipeline = make_pipeline(store_url)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        fields = long_fields(t0, {name: noise() for name in ("external_id", "url", "title", "body",
                                  "name", "age", "location", "price", "posted", "poster_account",
                                  "image")} | {"identifier": values["identifier"]})  # fmt: skip
        ad = pipeline.store_ad(fields)
        pipeline.recorder.store.commit()
        session = pipeline.recorder.session
        url = "https://t.me/" + values["identifier"]
        ((watch, created),) = add_watches(session, [url], kind="url")
        assert created and watch.value == url and watch.value_sha256 == value_sha256(url)
        ((again, created),) = add_watches(session, [url], kind="url")
        assert not created and again.id == watch.id
        hits = scan(session)
        assert len(hits) == 1 and session.get(WatchHit, hits[0]).ad_id == ad
        session.add(Platform(name="long_language", language=language))
        platform = session.scalar(select(Platform).where(Platform.name == "long_language"))
        session.add(Crawl(platform_id=platform.id, status="failed", finish_reason=values["reason"]))
        session.commit()
        event = record_event(session, "test.long", "subject", {"n": 1}, actor=values["actor"])
        assert session.get(CustodyEvent, event.seq).actor == values["actor"]
        reason = select(Crawl.finish_reason).where(Crawl.platform_id == platform.id)
        assert session.scalar(reason) == values["reason"]
        assert session.scalar(select(Platform.language).where(Platform.id == platform.id)) == (
            language
        )
        assert remove_watch(session, f"url:{url}") == 1
        assert session.scalar(select(func.count(Watch.id))) == 0
    finally:
        release_store(pipeline.recorder.store)
