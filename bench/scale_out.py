"""Scale-out: pages/s of 1 vs 2 worker processes sharing one Redis frontier.

Serves the synthetic fixture web in its own process, then crawls the same
static platforms (each its own site, 127.0.0.1x) twice into a fresh
PostgreSQL database of its own, each time seeding a fresh Redis frontier
(own key prefix): once with one ``adarchive worker`` process, once with two.

The workload is bound by requests in flight, as real crawls are: each site
answers after ``--latency`` seconds (a real site's time to first byte), allows
``--per-site`` requests at once and ``--delay`` seconds between them (shared
by all workers through the Redis limiter), and a worker holds only
``--worker-concurrency`` requests (CONCURRENT_REQUESTS), fewer than the sites
could serve: a scaled-down real crawl, where a worker's 16-32 requests in
flight are spread over hundreds of sites, each slow to answer and asking for a
second or more between requests. One worker is then bound by the requests it
holds (worker concurrency / latency); a second worker holds as many more,
until the sites' own bound (sites x per-site / latency, or sites / delay) or
the CPU is reached. With three sites the defaults give a worker 2 pages in
flight (4 pages/s, plus their images, which the images pipeline fetches
beside them, about 13 requests/s in all); the run is long enough (150 adverts
per site) that start-up and the last pages do not decide it (with 60, the
listing chain left the frontier short at both ends: 1.71x).

Three sites stand in for the hundreds of a real crawl, so the per-site delay
is scaled so that the sites' own bound (sites / delay) is as far above what
the workers ask as it is on a real crawl: the model's 500 sites at 2 s allow
250 requests/s, of which two workers use about 13 %; three sites at 0.02 s
allow 150/s, of which two workers here use about 17 %. With 0.1 s (30/s) two
workers used 60 % of the sites' bound and waited for each other's delays:
1.74x, a measure of three busy sites, not of the workers (``--delay 0.1``
still shows it).
``--latency 0 --delay 0 --worker-concurrency 32 --per-site 8`` gives the CPU-
and store-bound measurement.

Throughput is measured on the server side: requests served / (last request -
first request), so process start-up and the idle wait at the end do not
count. CPU seconds of the workers (and their evidence writers) come from
the children's rusage; the store's time from PostgreSQL's own statistics of
the bench database (``pg_stat_database.active_time``). From those it prints a
model: predicted pages/s of N workers on a larger machine and where it
saturates. Redis at 127.0.0.1:6379 and PostgreSQL at 127.0.0.1:5432 are needed.

    .venv/bin/python bench/scale_out.py [--ads 150] [--workers 2] [--latency 0.5]
        [--delay 0.02] [--per-site 8] [--worker-concurrency 2] [--cores 8] [--store-cores 8] [--sites 500] [--site-delay 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _fixtureweb import start_server

REPO = Path(__file__).resolve().parent.parent
PG = "postgresql+psycopg://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/0"
TARGET = 1.8


@dataclass
class RunResult:
    workers: int
    requests: int
    span: float
    wall: float
    pages_by_worker: list[int]
    cpu: float = 0.0
    """CPU seconds of the workers and their child processes (evidence writer, helpers)."""
    store: float = 0.0
    """Seconds PostgreSQL's backends spent executing the workers' statements."""

    @property
    def cpu_per_page(self) -> float:
        return self.cpu / self.requests if self.requests else 0.0

    @property
    def store_per_page(self) -> float:
        return self.store / self.requests if self.requests else 0.0

    @property
    def pages_per_second(self) -> float:
        return self.requests / self.span if self.span > 0 else 0.0


def cli() -> list[str]:
    return [sys.executable, "-m", "crawler.cli"]


def run(workers: int, platforms: list[str], start_urls: dict[str, str], root: Path,
        log_path: Path, args: argparse.Namespace) -> RunResult:  # fmt: skip
    from sqlalchemy import create_engine, text

    from crawler.scale.frontier import clear, connect, seed
    from crawler.store.db import make_engine, upgrade_schema

    name = f"adarchive_bench_{uuid.uuid4().hex[:10]}"
    prefix = f"bench-{uuid.uuid4().hex[:10]}"
    # A database of its own: its statistics (store time) are this run's alone,
    # while other crawls and tests use the shared database.
    admin = create_engine(f"{PG}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    db = f"{PG}/{name}"
    server = connect(REDIS)
    try:
        engine = make_engine(db)
        upgrade_schema(engine)
        engine.dispose()
        for platform in platforms:
            seed(server, prefix, platform, [start_urls[platform]])
        offset = log_path.stat().st_size
        store_before = _active_seconds(admin, name)
        common = ["worker", *platforms, "--db", db, "--redis", REDIS, "--prefix", prefix,
                  "--delay", str(args.delay), "--concurrency", str(args.per_site),
                  "--idle-close", "1", "--log-level", "WARNING",
                  "-s", f"CONCURRENT_REQUESTS={args.worker_concurrency}",
                  "-s", "ADARCHIVE_ROBOTS_CRAWL_DELAY=False",
                  "-s", "ADARCHIVE_ALLOWED_ADDRESSES=127.0.0.10-127.0.0.99",
                  "-s", "ADARCHIVE_PROGRESS_BAR=False"]  # fmt: skip
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.monotonic()
        procs = [
            subprocess.Popen(
                [*cli(), *common, "--out", str(root / f"{name}-w{i}")],
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            for i in range(workers)
        ]
        for proc in procs:
            out, err = proc.communicate()
            # 3 = degraded: a worker that crawled only part of a site can see more of its
            # deliberately broken fixture pages than the health threshold allows; its pages
            # still count. Anything else is a failed measurement.
            if proc.returncode not in (0, 3):
                raise SystemExit(f"worker failed:\n{out}\n{err[-4000:]}")
        wall = time.monotonic() - began
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        with open(log_path, encoding="utf-8") as fh:
            fh.seek(offset)
            entries = [json.loads(line) for line in fh if line.strip()]
        times = sorted(e["time"] for e in entries)
        store_engine = create_engine(db)
        with store_engine.begin() as conn:
            split = conn.execute(
                text("SELECT pid, sum(pages) FROM crawl GROUP BY pid ORDER BY pid")
            ).all()
        store_engine.dispose()
        store = _active_seconds(admin, name, settle=True) - store_before
        return RunResult(
            workers, len(entries), times[-1] - times[0], wall, [int(n) for _, n in split],
            cpu=cpu, store=store,
        )  # fmt: skip
    finally:
        clear(server, prefix)
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def _active_seconds(admin: Any, name: str, settle: bool = False) -> float:
    """Seconds the database's backends spent in statements (PostgreSQL >= 14), 0 if unknown.
    Backends report their statistics when they exit or go idle: ``settle`` waits for that."""
    from sqlalchemy import text

    value = 0.0
    for _ in range(20 if settle else 1):
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_stat_clear_snapshot()"))
            got = conn.execute(
                text("SELECT active_time FROM pg_stat_database WHERE datname = :n"), {"n": name}
            ).scalar()
        if got is not None and float(got) / 1000 == value and value > 0:
            break
        value = float(got or 0) / 1000
        if settle:
            time.sleep(0.25)  # a benchmark, not a test: waiting for the statistics collector
    return value


def model(one: RunResult, args: argparse.Namespace) -> None:
    """Predicted pages/s of N workers on a machine of ``--cores`` from the measured costs.

    A worker is bound by the politeness of the requests it holds
    (``--model-concurrency`` in flight, each waiting about one site delay) or by
    its own CPU (its event loop and writer, ``--worker-cores`` of a core at most);
    all workers together by the machine's cores, the store's cores and the sites'
    own bound (sites / delay). Costs measured on a loaded 2-core machine err high.
    """
    cpu, store = one.cpu_per_page, one.store_per_page
    per_worker = min(
        args.model_concurrency / args.site_delay,
        args.worker_cores / cpu if cpu else float("inf"),
    )
    cpu_bound = args.cores / cpu if cpu else float("inf")
    store_bound = args.store_cores / store if store else float("inf")
    polite_bound = args.sites / args.site_delay
    print(
        f"model inputs (measured, one worker): {cpu * 1000:.1f} ms CPU per page "
        f"(crawl + writer), {store * 1000:.2f} ms PostgreSQL time per page"
    )
    print(
        f"  per worker: {per_worker:.0f} pages/s ({args.model_concurrency} requests in flight "
        f"over sites asking {args.site_delay:g} s, or {args.worker_cores:g} cores of CPU); "
        f"machine: CPU {cpu_bound:.0f} pages/s on {args.cores} cores, store "
        f"{store_bound:.0f} pages/s on {args.store_cores} cores, sites {polite_bound:.0f} "
        f"pages/s ({args.sites} sites)"
    )
    saturated = None
    for n in range(1, 9):
        bounds = {
            "workers": n * per_worker, "CPU": cpu_bound, "store": store_bound,
            "sites' politeness": polite_bound,
        }  # fmt: skip
        limit = min(bounds, key=lambda k: bounds[k])
        if saturated is None and limit != "workers":
            saturated = n
        print(f"  {n} workers: {bounds[limit]:7.1f} pages/s (bound: {limit})")
    print(
        "  8 workers do not saturate it: add workers"
        if saturated is None
        else f"  saturates at {saturated} workers"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ads", type=int, default=150, help="adverts per platform")
    parser.add_argument("--workers", type=int, default=2, help="workers in the second run")
    parser.add_argument("--per-site", type=int, default=8, help="requests in flight per site")
    parser.add_argument(
        "--delay", type=float, default=0.02, help="seconds between a site's requests"
    )
    parser.add_argument(
        "--latency", type=float, default=0.5, help="each site's time to first byte, s"
    )
    parser.add_argument("--worker-concurrency", type=int, default=2,
                        help="CONCURRENT_REQUESTS of each worker")  # fmt: skip
    parser.add_argument("--cores", type=int, default=8, help="model: cores of the larger machine")
    parser.add_argument("--store-cores", type=int, default=8, help="model: PostgreSQL's cores")
    parser.add_argument("--sites", type=int, default=500, help="model: sites of the real crawl")
    parser.add_argument("--model-concurrency", type=int, default=32,
                        help="model: requests in flight per worker")  # fmt: skip
    parser.add_argument("--worker-cores", type=float, default=1.5,
                        help="model: cores one worker can use (event loop + writer)")  # fmt: skip
    parser.add_argument("--site-delay", type=float, default=2.0, help="model: their delay, s")
    parser.add_argument("--repeat", type=int, default=1,
                        help="paired rounds (1 worker, then N); the verdict is the lower of "
                        "best/best and the median of the rounds' ratios")  # fmt: skip
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)

    platforms = ["kz_board", "uk_directory", "kr_board"]
    with tempfile.TemporaryDirectory(prefix="adarchive-bench-") as tmp:
        root = Path(tmp)
        log_path, truth_path = root / "requests.jsonl", root / "truth.json"
        log_path.touch()
        server, urls = start_server(args.ads, log_path, truth_path, seed=5, latency=args.latency)
        try:
            start_urls = {name: urls["start_urls"][name] for name in platforms}
            rounds = []
            for _ in range(max(1, args.repeat)):
                one = run(1, platforms, start_urls, root, log_path, args)
                many = run(args.workers, platforms, start_urls, root, log_path, args)
                rounds.append((one, many))
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(f"{len(platforms)} sites answering after {args.latency:g} s, {args.delay:g} s "
          f"per-site delay (shared), {args.per_site} per site in flight, "
          f"{args.worker_concurrency} per worker")  # fmt: skip
    print(f"{'round':>5} {'workers':>7} {'requests':>8} {'span s':>7} {'wall s':>7} "
          f"{'pages/s':>8} {'CPU ms/p':>8} {'store ms/p':>10}  pages per worker")  # fmt: skip
    for n, pair in enumerate(rounds, 1):
        for r in pair:
            print(f"{n:>5} {r.workers:>7} {r.requests:>8} {r.span:>7.2f} {r.wall:>7.2f} "
                  f"{r.pages_per_second:>8.1f} {r.cpu_per_page * 1000:>8.1f} "
                  f"{r.store_per_page * 1000:>10.2f}  {r.pages_by_worker}")  # fmt: skip
    paired = [m.pages_per_second / o.pages_per_second for o, m in rounds if o.pages_per_second]
    one = max((o for o, _ in rounds), key=lambda r: r.pages_per_second)
    many = max((m for _, m in rounds), key=lambda r: r.pages_per_second)
    best = many.pages_per_second / one.pages_per_second if one.pages_per_second else 0.0
    ratio = min(best, statistics.median(paired)) if paired else 0.0
    verdict = "met" if ratio >= TARGET else "NOT met"
    print("per-round ratios: " + ", ".join(f"{r:.2f}" for r in paired))
    print(
        f"ratio {args.workers} workers / 1 worker: {ratio:.2f} (best/best {best:.2f}, median "
        f"{statistics.median(paired) if paired else 0:.2f}; target >= {TARGET}: {verdict})"
    )
    model(one, args)
    if args.json:
        Path(args.json).write_text(json.dumps({
            "one": one.__dict__ | {"pages_per_second": one.pages_per_second},
            "many": many.__dict__ | {"pages_per_second": many.pages_per_second},
            "ratio": ratio,
        }, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
