"""The opt-in tracemalloc diagnostic (issue 21) finds what grows per response."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest
from scrapy import Spider
from scrapy.exceptions import NotConfigured

from conftest import project_crawler
from crawler import memtrace

KEPT: list[bytes] = []


def _keep_something() -> None:
    KEPT.append(bytes(1000) + b"x")  # a structure that keeps ~1 kB per response


def test_points_are_parsed_and_off_by_default() -> None:
    assert memtrace.parse_points("6000, 2000,2000") == [2000, 6000]
    assert memtrace.parse_points("") == []
    with pytest.raises(ValueError):
        memtrace.parse_points("0,10")
    with pytest.raises(NotConfigured):
        memtrace.TracemallocExtension.from_crawler(project_crawler(Spider))


def test_the_growth_between_snapshots_is_written_per_response(tmp_path: Path) -> None:
    tracer = memtrace._Tracer([10, 110], tmp_path)
    tracer.start()
    try:
        for _ in range(110):
            _keep_something()
            tracer.response_received()
    finally:
        tracemalloc.stop()
        KEPT.clear()
    report = json.loads((tmp_path / "tracemalloc.json").read_text())
    (diff,) = report["diffs"]
    assert (diff["from"], diff["to"]) == (10, 110)
    assert diff["bytes_per_response"] >= 1000
    top = diff["by_traceback"][0]
    assert top["bytes"] >= 100 * 1000 and any("test_memtrace.py" in w for w in top["where"])
    text = (tmp_path / "tracemalloc-10-110.txt").read_text()
    assert "B per response" in text and "test_memtrace.py" in text
