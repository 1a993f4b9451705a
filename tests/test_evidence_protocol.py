"""The evidence writer process driven message by message, without a crawl.

The real child process (``python -m crawler.sink.evidence_writer``) on a real
SQLite store: what it commits while the crawl is quiet, what one bad advert
costs, what the close answer says, and that a frame cut off by the crawl's
death is dropped while everything before it is kept.
"""

from __future__ import annotations

import os
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crawler.archive.writer import new_record_id
from crawler.sink.messages import (
    HEADER,
    Advert,
    EvidenceWriterGone,
    Exchange,
    ReceivedResponse,
    SentRequest,
    WriterConfig,
)
from crawler.sink.writer_process import EvidenceWriterProcess
from crawler.store.db import open_store
from crawler.store.models import Crawl, Platform

PAGE = "http://127.0.0.11:8080/ad/1.html"
BODY = b"<html><body><h1>Guide</h1><p>Call +7 701 234 5678</p></body></html>"


@pytest.fixture
def store(tmp_path: Path) -> tuple[str, int, int]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    factory = open_store(url, create=True)
    with factory() as session:
        platform = Platform(name="kz_board", country="KZ", language="ru")
        session.add(platform)
        session.flush()
        crawl = Crawl(platform_id=platform.id, host="test", pid=os.getpid())
        session.add(crawl)
        session.commit()
        ids = (platform.id, crawl.id)
    factory.kw["bind"].dispose()
    return url, *ids


def config(tmp_path: Path, url: str, platform_id: int, crawl_id: int) -> WriterConfig:
    return WriterConfig(
        db_url=url,
        data_root=str(tmp_path),
        commit_every=200,
        crawl_id=crawl_id,
        platform="kz_board",
        platform_id=platform_id,
        warc_dir=str(tmp_path / "warc"),
        warc_prefix="test",
        warc_max_size=1_000_000,
        warcinfo={"software": "test"},
        revisits=True,
        host="testhost",
        pid=4242,
        settings={},
    )


def exchange(record_id: str) -> Exchange:
    request = SentRequest("GET", PAGE, [(b"Accept", [b"text/html"])], b"", {"depth": 1})
    response = ReceivedResponse(
        PAGE, 200, [(b"Content-Type", [b"text/html"])], BODY, "127.0.0.11", "HTTP/1.1", []
    )
    ids = (record_id, new_record_id(), new_record_id())
    return Exchange(ids, datetime.now(UTC), request, response)


def advert(record_id: str) -> dict:
    return {
        "platform": "kz_board",
        "external_id": "1",
        "url": PAGE,
        "fetched_at": datetime.now(UTC),
        "title": "Guide",
        "body": "Call +7 701 234 5678",
        "region": "KZ",
        "capture_id": None,
        "capture_record_id": record_id,
        "identifiers": [],
        "images": [],
        "contacts": [],
    }


def extract_there(fields: dict) -> Advert:
    """An advert whose identifiers the writer reads itself."""
    return Advert(fields, extract_identifiers=True)


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_writer_commits_when_quiet_survives_a_bad_advert_and_answers_close(
    tmp_path: Path, store: tuple[str, int, int]
) -> None:
    url, platform_id, crawl_id = store
    db = tmp_path / "store.db"
    writer = EvidenceWriterProcess()
    try:
        key = writer.open_channel(config(tmp_path, url, platform_id, crawl_id))
        record_id = new_record_id()
        writer.send(key, exchange(record_id))
        writer.send(key, Advert({"external_id": "no platform"}))  # refused before the store
        writer.send(key, extract_there(advert(record_id)))
        # Refused by the store half-way through its writes (ad, sighting and a new
        # identifier written, its ad_identifier row refused): undone alone.
        phone = {"kind": "phone", "value": "+77019999999", "start": 0, "end": 4}
        phone |= {"channel": None, "field": "body"}
        bad = {**advert(record_id), "external_id": "2", "identifiers": [{**phone, "match": None}]}
        writer.send(key, Advert(bad))
        # The identifier it made was rolled back with it: made again, not reused from a cache.
        good = {
            **advert(record_id),
            "external_id": "3",
            "identifiers": [{**phone, "match": "7999"}],
        }
        writer.send(key, Advert(good))
        # Nothing more comes: the writer commits on its own, long before the close.
        deadline = time.monotonic() + 60  # a loaded machine starts the writer slowly
        while len(rows(db, "SELECT id FROM ad")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        ads = rows(db, "SELECT external_id, capture_id FROM ad ORDER BY external_id")
        assert [a for a, _ in ads] == ["1", "3"]
        ((capture_id,),) = set((c,) for _, c in ads)
        assert rows(db, f"SELECT kind, record_id FROM capture WHERE id = {capture_id}") == [
            ("response", record_id)
        ]
        assert rows(db, "SELECT COUNT(*) FROM sighting") == [(2,)]
        links = rows(
            db,
            "SELECT a.external_id, i.value FROM ad_identifier ai JOIN ad a ON a.id = ai.ad_id"
            " JOIN identifier i ON i.id = ai.identifier_id ORDER BY 1",
        )
        assert links == [("1", "+77012345678"), ("3", "+77019999999")]  # 1: extracted there
        # After that quiet-time commit, a refused advert first thing in a transaction.
        writer.send(key, Advert({**bad, "external_id": "4"}))
        writer.send(key, Advert({**good, "external_id": "5"}))
        counts = writer.close_channel(key)
        assert [a for (a,) in rows(db, "SELECT external_id FROM ad ORDER BY 1")] == ["1", "3", "5"]
    finally:
        writer.stop()
    assert counts.stats["adarchive/evidence_writer/errors"] == 3
    assert counts.stats["adarchive/warc/records"] == 3
    assert counts.stats["adarchive/warc/files_closed"] == 1
    assert counts.ads["ads"] == 3 and counts.ads["new_ads"] == 3
    (warc,) = (tmp_path / "warc").iterdir()
    assert warc.name.endswith("-testhost-4242.warc.gz")  # the crawl's host and pid
    assert rows(db, "SELECT status FROM warc_file") == [("closed",)]
    assert writer.process.returncode == 0


def test_cut_frame_is_dropped_and_what_came_before_is_kept(
    tmp_path: Path, store: tuple[str, int, int]
) -> None:
    url, platform_id, crawl_id = store
    db = tmp_path / "store.db"
    writer = EvidenceWriterProcess()
    key = writer.open_channel(config(tmp_path, url, platform_id, crawl_id))
    writer.send(key, exchange(new_record_id()))
    # The crawl dies in the middle of a frame: the writer sees a header and half a body.
    os.write(writer._stdin, HEADER.pack(1000) + b"x" * 10)
    assert writer.stop() == 0
    assert not list((tmp_path / "warc").glob("*.open"))
    assert rows(db, "SELECT kind FROM capture ORDER BY id") == [
        ("response",),
        ("request",),
        ("metadata",),
    ]
    assert rows(db, "SELECT status FROM warc_file") == [("closed",)]
    with pytest.raises(EvidenceWriterGone):
        writer.send(key, exchange(new_record_id()))


def test_a_file_the_writer_holds_is_seen_in_use(
    tmp_path: Path, store: tuple[str, int, int]
) -> None:
    """Files carry the crawl's pid (4242 here, long gone): repair and --resume must see
    the writer's lock, or a crawl killed on its own would have its files repaired or
    resumed from while its writer still finishes them."""
    from crawler.archive.repair import repair_file, writer_alive
    from crawler.archive.writer import file_in_use

    url, platform_id, crawl_id = store
    writer = EvidenceWriterProcess()
    try:
        key = writer.open_channel(config(tmp_path, url, platform_id, crawl_id))
        writer.send(key, exchange(new_record_id()))
        deadline = time.monotonic() + 60  # a loaded machine starts the writer slowly
        while not list((tmp_path / "warc").glob("*.open")) and time.monotonic() < deadline:
            time.sleep(0.02)
        (held,) = (tmp_path / "warc").glob("*.open")
        assert file_in_use(held) and writer_alive(held)
        assert repair_file(held).skipped == "the crawler writing it is still running"
        writer.close_channel(key)
    finally:
        writer.stop()
    (closed,) = (tmp_path / "warc").glob("*.warc.gz")
    assert not file_in_use(closed)
