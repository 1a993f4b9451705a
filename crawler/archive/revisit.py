"""Revisit records: an unchanged payload is not archived twice.

Recrawls every few hours fetch mostly the same pages. When a response's
payload (the body as received, content-coding intact) has the same SHA-256 as
an earlier ``response`` capture of the same URL, the response record is
replaced by a WARC/1.1 ``revisit`` record with the *identical-payload-digest*
profile: the HTTP head as received this time, no body, the payload digest of
the original, and ``WARC-Refers-To`` / ``-Target-URI`` / ``-Date`` naming the
earlier record. The capture row gets kind ``revisit`` and the original's
payload digest, which is how exports find the response it stands for
(crawler/evidence/selection.py) and bring it into the bundle.

The request and metadata records of the exchange are written as usual.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select

from crawler.archive.digests import sha256_hex
from crawler.archive.writer import (
    RecordSpec,
    RotatingWarcWriter,
    WrittenRecord,
    warc_date,
)

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from crawler.store.prepared import Prepared
    from crawler.store.recorder import CrawlRecorder

PROFILE = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
HTTP_RESPONSE_TYPE = "application/http; msgtype=response"
# Carries the original's payload digest from the policy to the writer; never written.
_DIGEST_HEADER = "X-Adarchive-Revisit-Payload-Sha256"


@dataclass(frozen=True)
class Original:
    """The earlier response capture a revisit refers to."""

    capture_id: int
    record_id: str
    url: str
    fetched_at: datetime
    payload_sha256: str


def revisit_spec(response: RecordSpec, original: Original) -> RecordSpec:
    """The response spec turned into a revisit of ``original`` (same id, date and head)."""
    from crawler.store.models import utc

    refers = (
        ("WARC-Profile", PROFILE),
        ("WARC-Refers-To", original.record_id),
        ("WARC-Refers-To-Target-URI", original.url),
        ("WARC-Refers-To-Date", warc_date(utc(original.fetched_at))),  # type: ignore[arg-type]
        (_DIGEST_HEADER, original.payload_sha256),
    )
    return replace(
        response, kind="revisit", payload=b"", warc_headers=(*response.warc_headers, *refers)
    )


class RevisitWarcWriter(RotatingWarcWriter):
    """The rotating writer, able to write revisit records.

    A revisit's block is the HTTP head only; its ``WARC-Payload-Digest`` is the
    original's, not the digest of the (absent) body, and so is the
    ``payload_sha256`` it reports for the capture row.
    """

    _revisit_payload: str | None = None

    def _append(self, current: Any, spec: RecordSpec) -> WrittenRecord:
        digest = dict(spec.warc_headers).get(_DIGEST_HEADER) if spec.kind == "revisit" else None
        if digest is None:
            return super()._append(current, spec)
        headers = tuple(h for h in spec.warc_headers if h[0] != _DIGEST_HEADER)
        self._revisit_payload = digest
        try:
            written = super()._append(current, replace(spec, warc_headers=headers))
        finally:
            self._revisit_payload = None
        return replace(written, payload_sha256=digest)

    def _record_headers(
        self, current: Any, spec: RecordSpec, block_hex: str, payload_hex: str | None
    ) -> tuple[list[tuple[str, str]], str]:
        if spec.kind == "revisit" and self._revisit_payload is not None:
            payload_hex = self._revisit_payload
        headers, content_type = super()._record_headers(current, spec, block_hex, payload_hex)
        if spec.kind == "revisit":
            content_type = HTTP_RESPONSE_TYPE
        return headers, content_type


class RevisitPolicy:
    """Decides, per exchange, whether the response is written as a revisit."""

    def __init__(self, recorder: CrawlRecorder, stats: Any = None, min_size: int = 1) -> None:
        self.recorder = recorder
        self.stats = stats
        self.min_size = min_size
        # A store without a single response capture yet (a platform's first crawl)
        # has nothing to refer to: skip a lookup per response. Within one crawl the
        # dupefilter keeps URLs from being fetched twice, and a missed revisit only
        # means one more full copy, never a wrong record.
        self.nothing_earlier = _any_response().first(recorder.session, {}) is None

    @classmethod
    def from_crawler(cls, crawler: Crawler, recorder: CrawlRecorder) -> RevisitPolicy | None:
        """The policy, or None when ``ADARCHIVE_WARC_REVISITS`` is off."""
        if not crawler.settings.getbool("ADARCHIVE_WARC_REVISITS"):
            return None
        return cls(recorder, crawler.stats)

    def original_for(self, url: str, payload_sha256: str) -> Original | None:
        """The earliest response capture of ``url`` with this payload digest."""
        row = _original_query().first(
            self.recorder.session, {"url": url, "payload": payload_sha256}
        )
        if row is None:
            return None
        capture_id, record_id, original_url, fetched_at = row
        return Original(capture_id, record_id, original_url, fetched_at, payload_sha256)

    def apply(self, specs: list[RecordSpec]) -> list[RecordSpec]:
        """``specs`` with the response (first) replaced by a revisit where the payload is known."""
        response = specs[0]
        if (
            self.nothing_earlier
            or response.kind != "response"
            or len(response.payload) < self.min_size
        ):
            return specs
        original = self.original_for(response.url, sha256_hex(response.payload))
        if original is None:
            return specs
        if self.stats is not None:
            self.stats.inc_value("adarchive/warc/revisits")
            self.stats.inc_value("adarchive/warc/revisit_bytes_saved", len(response.payload))
        return [revisit_spec(response, original), *specs[1:]]


@functools.cache
def _original_query() -> Prepared:
    """Built once and run on the DBAPI cursor: this runs for every response."""
    from crawler.store.models import Capture
    from crawler.store.prepared import Prepared

    table = Capture.__table__
    statement = (
        select(table.c.id, table.c.record_id, table.c.url, table.c.fetched_at)
        .where(
            table.c.url == bindparam("url"),
            table.c.kind == "response",
            table.c.payload_sha256 == bindparam("payload"),
            table.c.record_id.is_not(None),
        )
        .order_by(table.c.fetched_at, table.c.id)
        .limit(1)
    )
    return Prepared(statement, ("url", "payload"))


@functools.cache
def _any_response() -> Prepared:
    from crawler.store.models import Capture
    from crawler.store.prepared import Prepared

    table = Capture.__table__
    return Prepared(select(table.c.id).where(table.c.kind == "response").limit(1), ())
