"""Scrapy extension: where a long crawl's memory goes (opt-in diagnostic, issue 21).

With ``ADARCHIVE_TRACEMALLOC_SNAPSHOTS = "2000,6000"`` the crawl process starts
:mod:`tracemalloc` when the engine starts and takes a snapshot each time the
process as a whole (every crawler in it) has received that many responses.
Each later snapshot is compared with the first one and written to the crawl's
data directory:

* ``tracemalloc-<first>-<n>.txt``: the largest growths grouped by traceback
  and by file, with bytes per response in between;
* ``tracemalloc.json``: the same figures for a benchmark to read
  (``bench/memory_flat.py --tracemalloc``).

Only growth matters: a structure that keeps something per page shows up as
bytes per response; a bounded cache that has filled does not. Tracing slows
the crawl (every allocation is recorded), so this is for diagnosis only.
"""

from __future__ import annotations

import json
import linecache
import tracemalloc
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import NotConfigured

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

FRAMES = 12
TOP = 25
# Frames from these files say nothing about who keeps memory alive.
_NOISE = (tracemalloc.__file__, linecache.__file__, "<frozen importlib._bootstrap>")


def parse_points(value: Any) -> list[int]:
    """``"2000,6000"`` (or a list) as sorted distinct positive response counts."""
    if not value:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    points = sorted({int(str(item).strip()) for item in items if str(item).strip()})
    if any(p <= 0 for p in points):
        raise ValueError(f"ADARCHIVE_TRACEMALLOC_SNAPSHOTS: counts must be positive: {value!r}")
    return points


def growth(
    first: tracemalloc.Snapshot, later: tracemalloc.Snapshot, key: str, top: int = TOP
) -> list[dict[str, Any]]:
    """The ``top`` largest growths from ``first`` to ``later`` grouped by ``key``
    (``"traceback"``, ``"filename"`` or ``"lineno"``)."""
    rows = []
    # compare_to() sorts by the size of the change either way: keep the growths only.
    grown = sorted((s for s in later.compare_to(first, key) if s.size_diff > 0),
                   key=lambda s: s.size_diff, reverse=True)  # fmt: skip
    for stat in grown[:top]:
        frames = [f"{frame.filename}:{frame.lineno}" for frame in stat.traceback]
        rows.append({"bytes": stat.size_diff, "blocks": stat.count_diff, "where": frames})
    return rows


class _Tracer:
    """One per process: several crawlers (platforms) share its response count."""

    def __init__(self, points: list[int], out: Path) -> None:
        self.points = points
        self.out = out
        self.responses = 0
        self.first: tracemalloc.Snapshot | None = None
        self.first_at = 0
        self.report: dict[str, Any] = {"schema": "adarchive-tracemalloc/1", "diffs": []}

    def start(self) -> None:
        if not tracemalloc.is_tracing():
            tracemalloc.start(FRAMES)

    def response_received(self) -> None:
        self.responses += 1
        if self.points and self.responses >= self.points[0]:
            self.points.pop(0)
            self.snapshot()

    def snapshot(self) -> None:
        snap = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, name) for name in _NOISE]
        )
        traced = tracemalloc.get_traced_memory()[0]
        if self.first is None:
            self.first, self.first_at = snap, self.responses
            self.report["first"] = {"responses": self.responses, "traced": traced}
            self._write()
            return
        span = self.responses - self.first_at
        by_file = growth(self.first, snap, "filename")
        by_trace = growth(self.first, snap, "traceback")
        total = sum(s.size for s in snap.statistics("filename")) - sum(
            s.size for s in self.first.statistics("filename")
        )
        diff = {
            "from": self.first_at,
            "to": self.responses,
            "traced": traced,
            "growth": total,
            "bytes_per_response": total / span,
            "by_file": by_file,
            "by_traceback": by_trace,
        }
        self.report["diffs"].append(diff)
        self._write()
        lines = [
            f"tracemalloc: responses {self.first_at} -> {self.responses}, traced growth "
            f"{total:+,} B ({total / span:+.1f} B per response); traced now {traced:,} B",
            "",
            "by file (bytes per response, bytes, blocks):",
        ]
        lines += [
            f"{r['bytes'] / span:10.1f} {r['bytes']:>12,} {r['blocks']:>9,}  {r['where'][0]}"
            for r in by_file
        ]
        lines += ["", "by traceback (innermost first):"]
        for r in by_trace:
            lines.append(
                f"{r['bytes'] / span:10.1f} B/response {r['bytes']:>12,} B {r['blocks']:>9,}"
            )
            lines += [f"    {where}" for where in reversed(r["where"])]
        (self.out / f"tracemalloc-{self.first_at}-{self.responses}.txt").write_text(
            "\n".join(lines) + "\n", encoding="utf-8"
        )

    def _write(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "tracemalloc.json").write_text(json.dumps(self.report, indent=1), "utf-8")


_tracer: _Tracer | None = None


class TracemallocExtension:
    def __init__(self, tracer: _Tracer) -> None:
        self.tracer = tracer

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> TracemallocExtension:
        global _tracer
        points = parse_points(crawler.settings.get("ADARCHIVE_TRACEMALLOC_SNAPSHOTS"))
        if not points:
            raise NotConfigured("ADARCHIVE_TRACEMALLOC_SNAPSHOTS is empty: memory is not traced")
        if _tracer is None:
            _tracer = _Tracer(points, Path(crawler.settings.get("ADARCHIVE_DATA_DIR")))
        extension = cls(_tracer)
        crawler.signals.connect(extension.engine_started, signal=signals.engine_started)
        crawler.signals.connect(extension.response_received, signal=signals.response_received)
        return extension

    def engine_started(self) -> None:
        self.tracer.start()

    def response_received(self) -> None:
        self.tracer.response_received()
