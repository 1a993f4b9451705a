"""Store behaviour on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from conftest import FAST, adarchive, start_url_args
from crawler.store.db import make_engine, open_store, upgrade_schema
from crawler.store.models import (
    Ad,
    AdIdentifier,
    Base,
    Identifier,
    Platform,
    Sighting,
    in_models,
)
from crawler.store.recorder import release_store

pytestmark = [pytest.mark.crawl]


def test_migrations_match_models(store_url: str) -> None:
    engine = make_engine(store_url)
    upgrade_schema(engine)
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"include_name": in_models}), Base.metadata
        )
    engine.dispose()
    assert diff == []


def make_pipeline(store_url: str, commit_every: int = 0) -> Any:
    from scrapy import Spider

    from conftest import project_crawler
    from pipelines.store import StorePipeline

    crawler = project_crawler(
        Spider,
        {"ADARCHIVE_DB": store_url, "ADARCHIVE_STORE_COMMIT_EVERY": commit_every},
    )
    pipeline = StorePipeline.from_crawler(crawler)
    spider = Spider(name="sample_board")
    pipeline.recorder.start_crawl(spider)
    return pipeline


def ad_fields(n: int, when: datetime, shared: int = 3) -> dict[str, Any]:
    phone = f"+7701555{n % shared:04d}"
    return {
        "platform": "sample_board",
        "external_id": str(1000 + n),
        "url": f"http://127.0.0.50/ad/{1000 + n}.html",
        "fetched_at": when,
        "title": f"Advert {n}",
        "body": f"Body {n} call {phone}",
        "region": "KZ",
        "identifiers": [
            {"kind": "phone", "value": phone, "match": phone, "start": 12, "end": 24, "field": "body"},
            {"kind": "telegram", "value": f"handle{n % shared}", "match": "x", "start": 0, "end": 1,
             "field": "contacts"},
        ],
        "images": [f"http://127.0.0.50/img/{n}.jpg"],
    }  # fmt: skip


def test_recrawl_is_a_sighting_not_a_duplicate(store_url: str) -> None:
    pipeline = make_pipeline(store_url)
    try:
        check_recrawl(pipeline)
    finally:
        release_store(pipeline.recorder.store)


def check_recrawl(pipeline: Any) -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(5):
        pipeline.store_ad(ad_fields(n, t0))
    for n in range(5):
        pipeline.store_ad(ad_fields(n, t0 + timedelta(hours=6)))
    pipeline.recorder.store.commit()
    session = pipeline.recorder.session
    assert session.scalar(select(func.count(Ad.id))) == 5
    assert session.scalar(select(func.count(Sighting.id))) == 10
    assert session.scalar(select(func.count(Identifier.id))) == 6
    ad = session.scalar(select(Ad).where(Ad.external_id == "1000"))
    assert ad.last_seen.replace(tzinfo=UTC) - ad.first_seen.replace(tzinfo=UTC) == timedelta(
        hours=6
    )
    assert pipeline.recorder.stats == {"pages": 0, "ads": 10, "new_ads": 5}


def _writer(store_url: str, worker: int, barrier: Any, errors: Any) -> None:
    try:
        pipeline = make_pipeline(store_url)
        t0 = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=worker)
        barrier.wait(30)
        for n in range(40):
            pipeline.store_ad(ad_fields(n, t0))
        release_store(pipeline.recorder.store)
    except Exception as exc:  # reported to the parent
        errors.put(f"worker {worker}: {exc!r}")


@pytest.fixture(scope="module")
def writer_processes() -> Iterator[Any]:
    """Processes of their own, forked from a fork server that imported this module once.

    Started with "spawn", each writer imported it again (pytest, Scrapy, SQLAlchemy,
    Alembic): about 1.5 s of CPU apiece. The server imports nothing else and holds no
    engine or connection (each writer makes its own); it is stopped (and reaped) with
    the module, not left idle for the rest of the run."""
    from multiprocessing import forkserver

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__, "scrapy", "pipelines.store"])
    try:
        yield ctx
    finally:
        forkserver._forkserver._stop()  # type: ignore[attr-defined]


def test_concurrent_writers_make_no_duplicates(store_url: str, writer_processes: Any) -> None:
    open_store(store_url).kw["bind"].dispose()  # schema first, so workers don't race on it
    ctx = writer_processes
    barrier = ctx.Barrier(3)
    errors = ctx.Queue()
    workers = [ctx.Process(target=_writer, args=(store_url, w, barrier, errors)) for w in range(3)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(120)
    problems = []
    while not errors.empty():
        problems.append(errors.get())
    assert problems == []
    assert all(p.exitcode == 0 for p in workers)
    factory = open_store(store_url, create=False)
    with factory() as session:
        assert session.scalar(select(func.count(Platform.id))) == 1
        assert session.scalar(select(func.count(Ad.id))) == 40
        assert session.scalar(select(func.count(Sighting.id))) == 120
        assert session.scalar(select(func.count(Identifier.id))) == 6
        assert session.scalar(select(func.count(AdIdentifier.id))) == 240
    factory.kw["bind"].dispose()


def test_real_crawl_into_store(store_url: str, fixture_web: Any, tmp_path: Any) -> None:
    name = "uk_directory"
    result = adarchive(
        "crawl", name, *start_url_args(fixture_web, [name]), "--out", str(tmp_path),
        "--db", store_url, *FAST,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    expected = {a["external_id"] for a in fixture_web.truth()["ads"] if a["platform"] == name}
    factory = open_store(store_url, create=False)
    with factory() as session:
        stored = set(session.scalars(select(Ad.external_id)))
        proofs = session.scalar(select(func.count(Ad.id)).where(Ad.capture_id.is_not(None)))
    factory.kw["bind"].dispose()
    assert stored == {str(e) for e in expected}
    assert proofs == len(expected)
