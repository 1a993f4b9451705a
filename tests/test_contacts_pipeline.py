"""The contacts pipeline over an Ad-like item: fields, offsets, links, the switch."""

from __future__ import annotations

import asyncio
import pickle
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from scrapy import Spider
from scrapy.exceptions import NotConfigured
from sqlalchemy import select

from conftest import project_crawler
from crawler.store.models import AdIdentifier, Capture
from crawler.store.recorder import release_store
from pipelines.contacts import ContactsPipeline
from pipelines.store import StorePipeline


@dataclass
class FakeAd:
    """The fields of ``crawler.items.Ad`` that the pipeline reads and writes."""

    url: str
    title: str | None = None
    body: str | None = None
    name: str | None = None
    contacts: list[str] = field(default_factory=list)
    region: str | None = None
    identifiers: list[dict] = field(default_factory=list)


def _pipeline(**settings: object) -> ContactsPipeline:
    crawler = project_crawler(Spider, settings)
    return ContactsPipeline.from_crawler(crawler)


def process(pipeline: ContactsPipeline, item: object) -> object:
    async def run() -> object:
        pipeline.open_spider(Spider("x"))
        try:
            return await pipeline.process_item(item, Spider("x"))
        finally:
            await pipeline.close_spider(Spider("x"))

    return asyncio.run(run())


def test_helper_process_gives_the_same_result() -> None:
    ad = FakeAd(url="http://127.0.0.11/ad/1", body="Call +44 7911 123456, tg @lotus_k", region="GB")
    inline = FakeAd(url=ad.url, body=ad.body, region="GB")
    process(_pipeline(ADARCHIVE_CONTACTS_WORKERS=1), ad)
    process(_pipeline(), inline)
    assert ad.identifiers == inline.identifiers
    assert [i["value"] for i in ad.identifiers] == ["+447911123456", "lotus_k"]


def test_helper_death_loses_no_advert_and_closing_ends_the_helper() -> None:
    """A helper that dies mid-crawl: the next adverts are read in the crawl's thread."""
    pipeline = _pipeline(ADARCHIVE_CONTACTS_WORKERS=1)
    body = "Call +44 7911 123456, tg @lotus_k"

    async def run() -> tuple[list, list, int | None]:
        pipeline.open_spider(Spider("x"))
        first = FakeAd(url="http://127.0.0.11/ad/1", body=body, region="GB")
        await pipeline.process_item(first, Spider("x"))
        assert pipeline.helpers is not None
        helper = pipeline.helpers.helpers[0]
        process = helper._process
        assert process is not None and process.returncode is None
        process.kill()
        await process.wait()
        second = FakeAd(url="http://127.0.0.11/ad/2", body=body, region="GB")
        await pipeline.process_item(second, Spider("x"))
        assert helper.gone
        await pipeline.close_spider(Spider("x"))
        return first.identifiers, second.identifiers, process.returncode

    first, second, returncode = asyncio.run(run())
    assert [i["value"] for i in first] == ["+447911123456", "lotus_k"]
    assert second == first
    assert returncode is not None


def test_helper_exits_when_the_pipeline_closes() -> None:
    pipeline = _pipeline(ADARCHIVE_CONTACTS_WORKERS=2)

    async def run() -> list:
        pipeline.open_spider(Spider("x"))
        ads = [
            FakeAd(url=f"http://127.0.0.11/ad/{n}", body=f"tel +44 7911 12345{n}") for n in range(6)
        ]
        await asyncio.gather(*(pipeline.process_item(ad, Spider("x")) for ad in ads))
        assert pipeline.helpers is not None
        processes = [h._process for h in pipeline.helpers.helpers]
        await pipeline.close_spider(Spider("x"))
        assert all(ad.identifiers for ad in ads)
        return processes

    processes = asyncio.run(run())
    started = [p for p in processes if p is not None]
    assert started and all(p.returncode == 0 for p in started)


def test_disabled_by_setting() -> None:
    with pytest.raises(NotConfigured):
        _pipeline(ADARCHIVE_CONTACTS_ENABLED=False)


def test_extracts_per_field_with_offsets_and_channel() -> None:
    ad = FakeAd(
        url="http://127.0.0.10:8001/ad/17",
        title="Анна, звоните 8 701 234 56 78",
        body="Рост 168, цена 20000 тг. Тел: 8 701 234 56 78. Подробнее http://127.0.0.10:8001/about",
        name="Анна",
        contacts=[
            "8 (701) 234-56-78",
            "https://t.me/anna_k",
            "https://wa.me/77012345678",
            "https://example.org/anna",
        ],
        region="KZ",
    )
    out = process(_pipeline(), ad)
    assert out is ad
    rows = [(i["field"], i["kind"], i["value"], i["channel"]) for i in ad.identifiers]
    assert rows == [
        ("title", "phone", "+77012345678", None),
        ("body", "phone", "+77012345678", None),
        ("contacts", "phone", "+77012345678", None),
        ("contacts", "telegram", "anna_k", None),
        ("contacts", "phone", "+77012345678", "whatsapp"),
        ("contacts", "url", "https://example.org/anna", None),
    ]  # the link back to the ad's own site is not off-platform
    texts = {"title": ad.title, "body": ad.body, "contacts": "\n".join(ad.contacts)}
    for ident in ad.identifiers:
        assert texts[ident["field"]][ident["start"] : ident["end"]] == ident["match"]
        assert set(ident) == {"kind", "value", "match", "start", "end", "channel", "field"}


def test_missing_fields_and_no_region() -> None:
    ad = FakeAd(url="http://127.0.0.11/ad/1", body="Call +44 7911 123456", title=None, name=None)
    process(_pipeline(), ad)
    assert [(i["field"], i["value"]) for i in ad.identifiers] == [("body", "+447911123456")]


def test_dict_items_work_too() -> None:
    item = {"title": "LINE: lotus.bkk", "region": "TH", "contacts": [], "identifiers": []}
    process(_pipeline(), item)
    assert [(i["kind"], i["value"]) for i in item["identifiers"]] == [("line", "lotus.bkk")]


def test_a_reply_larger_than_one_pipe_read_arrives_whole() -> None:
    """Replies are framed: one bigger than a 64 KiB read is reassembled, not cut."""
    body = " ".join(f"tel +44 7911 {n:06d};" for n in range(2000))
    ad = FakeAd(url="http://127.0.0.11/ad/big", body=body, region="GB")
    inline = FakeAd(url=ad.url, body=body, region="GB")
    process(_pipeline(ADARCHIVE_CONTACTS_WORKERS=1), ad)
    process(_pipeline(), inline)
    assert len(ad.identifiers) == 2000
    assert ad.identifiers == inline.identifiers
    assert len(pickle.dumps(ad.identifiers)) > 1 << 16


def test_a_closed_helper_refuses_work_without_starting_another() -> None:
    from crawler.extract.helper_process import ExtractionWorker, WorkerGone

    async def run() -> None:
        helper = ExtractionWorker()
        assert await helper.extract([("body", "tel +44 7911 123456")], "GB", None)
        await helper.close()
        with pytest.raises(WorkerGone):
            await helper.extract([("body", "tel +44 7911 123456")], "GB", None)
        assert helper._process is None  # nothing new was spawned

    asyncio.run(run())


def test_the_page_address_is_a_source() -> None:
    """A number only in the advert's address or host is found, with offsets into the URL."""
    for workers in (0, 1):
        ad = FakeAd(
            url="http://909-555-0142.127.0.0.11.example/ad/columbia/803-555-0199/4155550132",
            title="Amy, new in town",
            region="US",
        )
        process(_pipeline(ADARCHIVE_CONTACTS_WORKERS=workers), ad)
        rows = [(i["field"], i["value"], i["match"]) for i in ad.identifiers]
        assert rows == [
            ("url", "+19095550142", "909-555-0142"),
            ("url", "+18035550199", "803-555-0199"),
        ]  # the undivided 4155550132 is the board's advert id
        for ident in ad.identifiers:
            assert ad.url[ident["start"] : ident["end"]] == ident["match"]


def test_identifiers_from_the_address_point_at_the_response(tmp_path: Path) -> None:
    """In the store, an identifier read from the URL is proved by the response record,
    even when the other fields were read from a browser's rendered DOM."""
    crawler = project_crawler(Spider, {"ADARCHIVE_DB": f"sqlite:///{tmp_path}/store.db"})
    pipeline = StorePipeline.from_crawler(crawler)
    pipeline.recorder.start_crawl(Spider(name="sample_board"))
    try:
        session = pipeline.recorder.session
        now = datetime(2026, 1, 1, tzinfo=UTC)
        response = Capture(kind="response", url="http://127.0.0.50/ad/803-555-0199", fetched_at=now)
        dom = Capture(
            kind="resource", url="urn:dom:http://127.0.0.50/ad/803-555-0199", fetched_at=now
        )
        session.add_all([response, dom])
        session.flush()
        item = {
            "platform": "sample_board",
            "external_id": "1",
            "url": "http://127.0.0.50/ad/803-555-0199",
            "fetched_at": now,
            "body": "Call 415-555-0132",
            "region": "US",
            "capture_id": response.id,
            "text_capture_id": dom.id,
            "identifiers": [],
        }
        process(_pipeline(), item)
        pipeline.store_ad(item)
        rows = session.execute(select(AdIdentifier.field, AdIdentifier.capture_id)).all()
        assert sorted(rows) == [("body", dom.id), ("url", response.id)]
    finally:
        release_store(pipeline.recorder.store)


def test_with_the_evidence_writer_on_a_helper_reads_the_advert_whatever_the_setting() -> None:
    """The writer-process sink keeps the reactor free: even with no helpers configured,
    the identifiers are read by a helper process, and they are on the item (feeds)."""
    from crawler.sink.writer_process import WriterProcessSink

    crawler = project_crawler(Spider, {"ADARCHIVE_CONTACTS_WORKERS": 0})
    WriterProcessSink(crawler, config_for=lambda: None).attach(crawler)  # never opened
    pipeline = ContactsPipeline.from_crawler(crawler)
    ad = FakeAd(url="http://127.0.0.11/ad/1", body="Call +44 7911 123456, tg @lotus_k", region="GB")

    async def run() -> int:
        pipeline.open_spider(Spider("x"))
        await pipeline.process_item(ad, Spider("x"))
        assert pipeline.helpers is not None
        helpers = [h for h in pipeline.helpers.helpers if h._process is not None]
        await pipeline.close_spider(Spider("x"))
        return len(helpers)

    assert asyncio.run(run()) == 1
    assert [i["value"] for i in ad.identifiers] == ["+447911123456", "lotus_k"]
