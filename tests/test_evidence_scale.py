"""Bounded memory at 10,000 captures, hostile text in the report, verify on a big selection."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from crawler.evidence.bundlereport import render_report
from crawler.evidence.selection import Selection
from crawler.evidence.synthetic import build_synthetic_archive
from crawler.evidence.verify import verify_bundle
from crawler.evidence.wacz_export import CaptureInfo, ExportOptions, export_bundle
from crawler.store.db import open_store

pytestmark = [pytest.mark.slow]

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _export_peak(root: Path, body_bytes: int) -> tuple[int, int]:
    """(peak traced bytes while exporting 10,000 captures, bytes of WARC records exported)."""
    archive = build_synthetic_archive(root / "data", pages=5000, body_bytes=body_bytes)
    assert archive.captures == 10_000
    factory = open_store(archive.db_url, create=False)
    out = root / "big.wacz"
    tracemalloc.start()
    try:
        result = export_bundle(
            factory, Selection(crawl=archive.crawl_id), ExportOptions(out, archive.data_root)
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.captures == 10_000 and result.records == 10_001
    report = verify_bundle(out)
    assert report.ok, report.failures()
    return peak, archive.warc_bytes


def test_ten_thousand_captures_export_in_bounded_memory(tmp_path: Path) -> None:
    small_peak, small_bytes = _export_peak(tmp_path / "small", 200)
    big_peak, big_bytes = _export_peak(tmp_path / "big", 6000)
    assert big_bytes - small_bytes > 15 * 2**20
    # Bodies are streamed: ~17 MB more of records costs (almost) no more memory.
    assert big_peak - small_peak < 4 * 2**20, (small_peak, big_peak)
    assert big_peak < 64 * 2**20


def test_report_escapes_every_captured_value() -> None:
    when = datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)
    info = CaptureInfo(
        id=1, kind="response", url=f"http://example.org/?q={HOSTILE}", fetched_at=when,
        status=200, content_type=HOSTILE, record_id="<urn:uuid:1>", block_sha256="a" * 64,
        payload_sha256="b" * 64, source_warc="x.warc.gz", source_sha256="c" * 64,
        source_offset=0, source_length=10, bundle_warc="x.warc.gz", bundle_offset=0,
        ads=HOSTILE,
    )  # fmt: skip
    context = {
        "case_ref": HOSTILE, "actor": HOSTILE, "created": when, "selection": {"ads": [HOSTILE]},
        "sources": [], "infos": [info], "skipped_open": 0, "fingerprint": None, "public_key": None,
        "event": SimpleNamespace(seq=9, hash="d" * 64),
        "ads": [{"platform": "p", "external_id": HOSTILE, "url": HOSTILE, "title": HOSTILE,
                 "first_seen": when, "last_seen": when}],
    }  # fmt: skip
    html = "".join(render_report(context))
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
