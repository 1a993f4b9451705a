"""The advert writer's memory of identifier ids is bounded (issue 21: flat memory over a
long crawl), and what it forgets is found again in the store, never duplicated."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from scrapy import Spider
from sqlalchemy import func, select

from conftest import project_crawler
from crawler.sink import adverts
from crawler.store.models import AdIdentifier, Identifier
from crawler.store.recorder import release_store
from pipelines.store import StorePipeline


def _advert(n: int, phone: str) -> dict:
    body = f"Call {phone}"
    return {
        "platform": "sample_board",
        "external_id": str(n),
        "url": f"http://127.0.0.50/ad/{n}",
        "fetched_at": datetime(2026, 1, 1, tzinfo=UTC),
        "body": body,
        "identifiers": [
            {
                "kind": "phone",
                "value": phone,
                "match": phone,
                "field": "body",
                "start": 5,
                "end": 5 + len(phone),
            }  # fmt: skip
        ],
    }


def test_identifier_ids_stay_bounded_and_a_forgotten_one_is_not_duplicated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(adverts, "RECENT_IDENTIFIERS", 3)
    crawler = project_crawler(Spider, {"ADARCHIVE_DB": f"sqlite:///{tmp_path}/store.db"})
    pipeline = StorePipeline.from_crawler(crawler)
    pipeline.recorder.start_crawl(Spider(name="sample_board"))
    try:
        phones = [f"+1415555{n:04d}" for n in range(10)]
        for n, phone in enumerate(phones):
            pipeline.store_ad(_advert(n, phone))
        writer = pipeline._in_process().adverts
        assert len(writer._identifier_ids) == 3
        assert ("phone", phones[0]) not in writer._identifier_ids  # forgotten, oldest first
        pipeline.store_ad(_advert(99, phones[0]))  # met again after it was forgotten
        session = pipeline.recorder.session
        assert session.scalar(select(func.count()).select_from(Identifier)) == 10
        first = session.scalar(select(Identifier.id).where(Identifier.value == phones[0]))
        linked = select(func.count()).where(AdIdentifier.identifier_id == first)
        assert session.scalar(linked) == 2
        assert len(writer._identifier_ids) == 3
    finally:
        release_store(pipeline.recorder.store)
