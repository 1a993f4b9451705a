"""Scale-out: pages/s of 1 vs 2 worker processes sharing one Redis frontier.

Serves the synthetic fixture web in its own process, then crawls the same
static platforms twice into fresh PostgreSQL schemas, each time seeding a
fresh Redis frontier (own key prefix): once with one ``adarchive worker``
process, once with two. Politeness is lowered for the loopback web (shared
delay 0, several requests per site in flight, robots.txt Crawl-delay off),
so the crawl, not the delay, is measured; on a real site the shared limiter
would keep N workers exactly as polite as one. Throughput is measured on the
server side: requests served / (last request - first request), so process
start-up and the idle wait at the end do not count. Redis at
127.0.0.1:6379 and PostgreSQL at 127.0.0.1:5432/test are needed.

    .venv/bin/python bench/scale_out.py [--ads 120] [--workers 2] [--per-site 8]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from _fixtureweb import start_server

REPO = Path(__file__).resolve().parent.parent
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379/0"


@dataclass
class RunResult:
    workers: int
    requests: int
    span: float
    wall: float
    pages_by_worker: list[int]

    @property
    def pages_per_second(self) -> float:
        return self.requests / self.span if self.span > 0 else 0.0


def cli() -> list[str]:
    return [sys.executable, "-m", "crawler.cli"]


def run(workers: int, platforms: list[str], start_urls: dict[str, str], root: Path,
        log_path: Path, per_site: int) -> RunResult:  # fmt: skip
    from sqlalchemy import create_engine, text

    from crawler.scale.frontier import clear, connect, seed
    from crawler.store.db import make_engine, upgrade_schema

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    prefix = f"bench-{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    db = f"{PG}?options=-csearch_path%3D{schema}"
    server = connect(REDIS)
    try:
        engine = make_engine(db)
        upgrade_schema(engine)
        engine.dispose()
        for name in platforms:
            seed(server, prefix, name, [start_urls[name]])
        offset = log_path.stat().st_size
        common = ["worker", *platforms, "--db", db, "--redis", REDIS, "--prefix", prefix,
                  "--delay", "0", "--concurrency", str(per_site), "--idle-close", "1",
                  "--log-level", "WARNING", "-s", "ADARCHIVE_ROBOTS_CRAWL_DELAY=False",
                  "-s", "ADARCHIVE_ALLOWED_ADDRESSES=127.0.0.10-127.0.0.99",
                  "-s", "ADARCHIVE_PROGRESS_BAR=False"]  # fmt: skip
        began = time.monotonic()
        procs = [
            subprocess.Popen(
                [*cli(), *common, "--out", str(root / f"{schema}-w{i}")],
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            for i in range(workers)
        ]
        for proc in procs:
            out, err = proc.communicate()
            if proc.returncode != 0:
                raise SystemExit(f"worker failed:\n{out}\n{err[-4000:]}")
        wall = time.monotonic() - began
        with open(log_path, encoding="utf-8") as fh:
            fh.seek(offset)
            entries = [json.loads(line) for line in fh if line.strip()]
        times = sorted(e["time"] for e in entries)
        with admin.begin() as conn:
            split = conn.execute(
                text(f"SELECT pid, sum(pages) FROM {schema}.crawl GROUP BY pid ORDER BY pid")
            ).all()
        return RunResult(
            workers, len(entries), times[-1] - times[0], wall, [int(n) for _, n in split]
        )
    finally:
        clear(server, prefix)
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ads", type=int, default=120, help="adverts per platform")
    parser.add_argument("--workers", type=int, default=2, help="workers in the second run")
    parser.add_argument("--per-site", type=int, default=8, help="requests in flight per site")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)

    platforms = ["kz_board", "uk_directory", "kr_board"]
    with tempfile.TemporaryDirectory(prefix="adarchive-bench-") as tmp:
        root = Path(tmp)
        log_path, truth_path = root / "requests.jsonl", root / "truth.json"
        log_path.touch()
        server, urls = start_server(args.ads, log_path, truth_path, seed=5)
        try:
            start_urls = {name: urls["start_urls"][name] for name in platforms}
            one = run(1, platforms, start_urls, root, log_path, args.per_site)
            many = run(args.workers, platforms, start_urls, root, log_path, args.per_site)
        finally:
            server.terminate()
            server.wait(timeout=10)
    ratio = many.pages_per_second / one.pages_per_second if one.pages_per_second else 0.0
    print(
        f"{'workers':>7} {'requests':>8} {'span s':>7} {'wall s':>7} {'pages/s':>8}  pages per worker"
    )
    for r in (one, many):
        print(f"{r.workers:>7} {r.requests:>8} {r.span:>7.2f} {r.wall:>7.2f} "
              f"{r.pages_per_second:>8.1f}  {r.pages_by_worker}")  # fmt: skip
    print(f"ratio {args.workers} workers / 1 worker: {ratio:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "one": one.__dict__ | {"pages_per_second": one.pages_per_second},
            "many": many.__dict__ | {"pages_per_second": many.pages_per_second},
            "ratio": ratio,
        }, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
