"""Memory over a long crawl: peak RSS of the crawl and of its evidence writer per 1,000 pages.

Serves a synthetic fixture world of about ``--pages`` detail pages (the
static platforms without a Crawl-delay), crawls it once with the full stack
(WARC capture, evidence writer process, contacts, store; images off unless
``--images``), and samples every 0.2 s the resident set of the crawl process,
of the evidence writer and of any other helper, against the number of
requests the server has answered so far. For each 1,000 requests it prints
the peak of each, then fits a line over the second half of the crawl (after
start-up and warm caches): a crawl whose memory grows with its length shows
a slope. Target: under ``--max-slope`` MiB per 1,000 pages for each process
(issue 21: flat over a 20,000-page crawl).

The default, 6,000 pages, keeps ``make bench`` to minutes; the issue's
20,000-page figure is one flag away (``--pages 20000``, half an hour on a
shared 2-core machine). Bounded caches fill in the first thousands of pages,
so a slope over the second half of 6,000 already shows a leak.

With ``--tracemalloc [DIR]`` the crawl process also traces its allocations
(crawler/memtrace.py, ADARCHIVE_TRACEMALLOC_SNAPSHOTS) and the benchmark
prints what grew between about 2,000 responses and the end, in bytes per
response by file: a figure the machine's load does not move, unlike RSS
(which tracing inflates, so read the slopes from a run without it).

    .venv/bin/python bench/memory_flat.py [--pages 6000] [--images] [--max-slope 1.0]
    .venv/bin/python bench/memory_flat.py --tracemalloc /tmp/traces
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _fixtureweb import start_server
from _rss import tree_rss

REPO = Path(__file__).resolve().parent.parent
BUCKET = 1000
ROLES = ("crawl", "writer", "helpers")


def role(pid: int, root: int) -> str:
    if pid == root:
        return "crawl"
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "helpers"
    # forked from the crawl (crawler/sink/writer_fork.py), or a new interpreter
    forked_or_execd = name == "evidence-writer" or b"crawler.sink.evidence_writer" in cmd
    return "writer" if forked_or_execd else "helpers"


class Sampler(threading.Thread):
    """RSS by role against requests served so far, every 0.2 s."""

    def __init__(self, root: int, log: Path) -> None:
        super().__init__(daemon=True)
        self.root, self.log = root, log
        self.samples: list[tuple[int, dict[str, int]]] = []
        self._done = threading.Event()
        self._served = 0
        self._offset = 0

    def served(self) -> int:
        with self.log.open("rb") as fh:
            fh.seek(self._offset)
            data = fh.read()
        self._offset += len(data)
        self._served += data.count(b"\n")
        return self._served

    def run(self) -> None:
        while not self._done.wait(0.2):
            rss = dict.fromkeys(ROLES, 0)
            for pid, size in tree_rss(self.root).items():
                rss[role(pid, self.root)] += size
            self.samples.append((self.served(), rss))

    def stop(self) -> None:
        self._done.set()
        self.join()


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (x, y)."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    den = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / den if den else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pages", type=int, default=6_000, help="detail pages in all (issue 21: 20000)"
    )
    parser.add_argument("--images", action="store_true", help="with the images pipeline")
    parser.add_argument("--max-slope", type=float, default=1.0, help="MiB per 1,000 pages")
    parser.add_argument("--strict", action="store_true", help="exit 1 when memory grows")
    parser.add_argument(
        "--tracemalloc",
        nargs="?",
        const="",
        metavar="DIR",
        help="trace the crawl's allocations (slower; RSS then includes tracemalloc's own "
        "tables), print its growth in bytes per response by file, and copy the full "
        "report (by traceback) into DIR if given",
    )
    args = parser.parse_args(argv)

    from crawler.demo.world import FIXTURE_ALLOWED_ADDRESSES, build_world

    platforms = [
        p["name"]
        for p in build_world(seed=1, ads_per_platform=1).truth()["platforms"]
        if p["render"] == "static" and not p["crawl_delay"]
    ]
    ads = math.ceil(args.pages / len(platforms))
    with tempfile.TemporaryDirectory(prefix="adarchive-memory-") as tmp:
        root = Path(tmp)
        log = root / "requests.jsonl"
        log.touch()
        server, urls = start_server(ads, log)
        try:
            starts = [a for n in platforms for a in ("--start-url", f"{n}={urls['start_urls'][n]}")]
            cmd = [sys.executable, "-m", "crawler.cli", "crawl", *platforms, *starts,
                   "--out", str(root / "out"), "--log-level", "WARNING",
                   "-s", "DOWNLOAD_DELAY=0", "-s", "DOWNLOAD_DELAY_JITTER=0",
                   "-s", "AUTOTHROTTLE_ENABLED=False", "-s", "CONCURRENT_REQUESTS=32",
                   "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=8",
                   "-s", f"ADARCHIVE_IMAGES_ENABLED={args.images}",
                   "-s", f"ADARCHIVE_ALLOWED_ADDRESSES={FIXTURE_ALLOWED_ADDRESSES}",
                   "-s", "ADARCHIVE_PROGRESS_BAR=False",
                   # The trap budgets (500 listing pages, 500 query variants, depth
                   # 600) would stop a 20,000-advert crawl short: raised, not off.
                   "-s", f"ADARCHIVE_MAX_LISTING_PAGES={args.pages}",
                   "-s", f"ADARCHIVE_MAX_DEPTH={args.pages}",
                   "-s", f"ADARCHIVE_MAX_QUERY_VARIANTS={args.pages}"]  # fmt: skip
            if args.tracemalloc is not None:
                points = f"{min(2000, args.pages // 3)},{args.pages}"
                cmd += ["-s", f"ADARCHIVE_TRACEMALLOC_SNAPSHOTS={points}"]
            print(f"crawling {len(platforms)} platforms x {ads} adverts "
                  f"(images {'on' if args.images else 'off'})", flush=True)  # fmt: skip
            began = time.monotonic()
            proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            sampler = Sampler(proc.pid, log)
            sampler.start()
            out, err = proc.communicate()
            sampler.stop()
            if proc.returncode not in (0,):
                raise SystemExit(f"crawl failed ({proc.returncode}):\n{out.decode()[-2000:]}\n"
                                 f"{err.decode()[-4000:]}")  # fmt: skip
            total = sampler.served()
            traced = root / "out" / "tracemalloc.json"
            report = json.loads(traced.read_text()) if traced.exists() else None
            if args.tracemalloc:
                keep = Path(args.tracemalloc)
                keep.mkdir(parents=True, exist_ok=True)
                for path in (root / "out").glob("tracemalloc*"):
                    shutil.copy(path, keep / path.name)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"{total} requests in {time.monotonic() - began:.0f} s")
    buckets: dict[int, dict[str, int]] = {}
    for served, rss in sampler.samples:
        peak = buckets.setdefault(served // BUCKET, dict.fromkeys(ROLES, 0))
        for name in ROLES:
            peak[name] = max(peak[name], rss[name])
    print(f"{'requests':>9} " + " ".join(f"{r + ' MiB':>12}" for r in ROLES))
    for b in sorted(buckets):
        row = buckets[b]
        print(f"{(b + 1) * BUCKET:>9} " + " ".join(f"{row[r] / 2**20:>12.1f}" for r in ROLES))
    full = [b for b in sorted(buckets) if (b + 1) * BUCKET <= total]
    late = full[len(full) // 2 :]
    verdict = {}
    for name in ROLES:
        points = [(float(b), buckets[b][name] / 2**20) for b in late if buckets[b][name]]
        verdict[name] = slope(points)
    flat = all(v <= args.max_slope for v in verdict.values())
    print(
        "slope over the second half (MiB per 1,000 requests): "
        + ", ".join(f"{n} {v:+.2f}" for n, v in verdict.items())
        + f" (target <= {args.max_slope}: {'flat' if flat else 'GROWS'})"
    )
    summary: dict[str, object] = {"requests": total, "slopes": verdict, "flat": flat}
    if report and report["diffs"]:
        diff = report["diffs"][-1]
        span = diff["to"] - diff["from"]
        print(f"tracemalloc, crawl process, responses {diff['from']} -> {diff['to']}: "
              f"{diff['bytes_per_response']:+.0f} B per response "
              f"(traced {diff['traced'] / 2**20:.1f} MiB); largest growths by file:")  # fmt: skip
        for row in diff["by_file"][:12]:
            print(f"{row['bytes'] / span:>10.1f} B/response  {row['where'][0]}")
        summary["traced_bytes_per_response"] = diff["bytes_per_response"]
    print(json.dumps(summary))
    return 1 if args.strict and not flat else 0


if __name__ == "__main__":
    sys.exit(main())
