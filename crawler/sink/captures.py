"""An exchange's records and capture rows: the same sequence in either sink."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from crawler.archive.records import ExchangeContext, ExchangeIds, build_exchange
from crawler.archive.warcinfo import software

if TYPE_CHECKING:
    from crawler.archive.revisit import RevisitPolicy
    from crawler.archive.writer import RecordSpec, WrittenRecord
    from crawler.store.recorder import CrawlRecorder


def exchange_specs(
    request: Any,
    response: Any,
    ids: ExchangeIds,
    fetched_at: datetime,
    recorder: CrawlRecorder,
    policy: RevisitPolicy | None,
) -> list[RecordSpec]:
    """The records of one exchange, the response first.

    ``request`` and ``response`` are Scrapy's, or the facts the evidence writer
    received (crawler/sink/messages.py). With a revisit policy, an unchanged
    payload becomes a revisit record pointing at the earlier capture, not a
    second copy (crawler/archive/revisit.py).
    """
    context = ExchangeContext(
        platform=recorder.platform,
        crawl_id=recorder.crawl_id,
        spider=recorder.platform,
        software=software(),
    )
    specs = build_exchange(request, response, ids=ids, fetched_at=fetched_at, context=context)
    return specs if policy is None else policy.apply(specs)


def add_exchange_captures(recorder: CrawlRecorder, written: list[WrittenRecord]) -> int:
    """A capture row per written record, the others children of the first; its id."""
    head = written[0]
    capture_id = recorder.add_capture(head, head.warc_file_id)
    for record in written[1:]:
        recorder.add_capture(record, record.warc_file_id, parent_id=capture_id)
    return capture_id


def add_exchanges_captures(recorder: CrawlRecorder, groups: list[list[WrittenRecord]]) -> list[int]:
    """:func:`add_exchange_captures` for many exchanges: the response rows one by one
    (their ids are the parents), every other row in one executemany; the ids."""
    heads = [recorder.add_capture(group[0], group[0].warc_file_id) for group in groups]
    recorder.add_captures(
        [
            recorder.capture_row(record, record.warc_file_id, parent_id=head)
            for head, group in zip(heads, groups, strict=True)
            for record in group[1:]
        ]
    )
    return heads
