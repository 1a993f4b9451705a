"""Rendered pages per minute in headless Chromium, full-page screenshots on vs off.

Serves the synthetic fixture web in its own process and crawls its JavaScript
platform (th_board: listing built from JSON, age gate, phone behind a button)
with the full evidence path: browser traffic, rendered DOM and, in the "on"
runs, a full-page PNG per page. Pages = rendered pages archived (``urn:dom:``
captures in the store); time = first to last request the fixture web saw, so
process start-up and the browser launch do not count. Each variant runs at
one page per site at a time (the polite default) and at ``--per-site`` pages.

    .venv/bin/python bench/browser_pages.py [--ads 40] [--per-site 4] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from _fixtureweb import start_server

REPO = Path(__file__).resolve().parent.parent
PLATFORM = "th_board"
BROWSER_ARGS = '["--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.*"]'


@dataclass
class Run:
    label: str
    per_site: int
    pages: int
    span: float
    wall: float

    @property
    def per_minute(self) -> float:
        return 60 * self.pages / self.span if self.span > 0 else 0.0


def crawl(label: str, per_site: int, screenshot: bool, url: str, out: Path, log: IO[str]) -> Run:
    from crawler.demo.world import FIXTURE_ALLOWED_ADDRESSES

    log.seek(0, 2)
    cmd = [sys.executable, "-m", "crawler.cli", "crawl", PLATFORM, "--start-url", url]
    cmd += ["--out", str(out), "--log-level", "WARNING"]
    for setting in (
        "DOWNLOAD_DELAY=0",
        "DOWNLOAD_DELAY_JITTER=0",
        "AUTOTHROTTLE_ENABLED=False",
        f"CONCURRENT_REQUESTS_PER_DOMAIN={per_site}",
        f"ADARCHIVE_BROWSER_MAX_PAGES={per_site}",
        f"ADARCHIVE_BROWSER_SCREENSHOT={screenshot}",
        f"ADARCHIVE_ALLOWED_ADDRESSES={FIXTURE_ALLOWED_ADDRESSES}",
        f"ADARCHIVE_BROWSER_ARGS={BROWSER_ARGS}",
        "ADARCHIVE_IMAGES_ENABLED=False",  # measure rendering, not the image pipeline
    ):
        cmd += ["-s", setting]
    began = time.monotonic()
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    wall = time.monotonic() - began
    if result.returncode != 0:
        raise SystemExit(f"{label} crawl failed:\n{result.stdout}\n{result.stderr[-4000:]}")
    times = sorted(json.loads(line)["time"] for line in log.read().splitlines() if line.strip())
    with sqlite3.connect(out / "adarchive.db") as conn:
        (pages,) = conn.execute(
            "SELECT count(*) FROM capture WHERE url LIKE 'urn:dom:%'"
        ).fetchone()
        (shots,) = conn.execute(
            "SELECT count(*) FROM capture WHERE url LIKE 'urn:screenshot:%'"
        ).fetchone()
    if shots != (pages if screenshot else 0):
        raise SystemExit(f"{label}: {shots} screenshots for {pages} pages")
    return Run(label, per_site, pages, times[-1] - times[0], wall)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ads", type=int, default=40, help="adverts on the JS platform")
    parser.add_argument("--per-site", type=int, default=4, help="pages at once in the 2nd series")
    parser.add_argument("--repeat", type=int, default=1, help="runs per variant; best kept")
    args = parser.parse_args(argv)
    results: dict[tuple[str, int], Run] = {}
    with tempfile.TemporaryDirectory(prefix="adarchive-bench-browser-") as tmp:
        root = Path(tmp)
        log_path = root / "requests.jsonl"
        log_path.touch()
        server, urls = start_server(args.ads, log_path)
        url = urls["start_urls"][PLATFORM]
        try:
            with log_path.open(encoding="utf-8") as log:
                for n in range(args.repeat):
                    for per_site in sorted({1, args.per_site}):
                        for label, shot in (("screenshots on", True), ("screenshots off", False)):
                            out = root / f"{per_site}-{shot}-{n}"
                            run = crawl(label, per_site, shot, url, out, log)
                            print(
                                f"  {label:<15} {per_site} at once: {run.pages} pages in "
                                f"{run.span:.1f} s = {run.per_minute:.0f} pages/min "
                                f"(process {run.wall:.1f} s)",
                                flush=True,
                            )
                            key = (label, per_site)
                            if key not in results or run.per_minute > results[key].per_minute:
                                results[key] = run
        finally:
            server.terminate()
            server.wait(timeout=30)
    for per_site in sorted({1, args.per_site}):
        on = results[("screenshots on", per_site)]
        off = results[("screenshots off", per_site)]
        print(
            f"{per_site} page(s) at once: {on.per_minute:.0f} pages/min with screenshots, "
            f"{off.per_minute:.0f} without; ratio on/off {on.per_minute / off.per_minute:.2f} "
            f"({60 / on.per_minute:.2f} s vs {60 / off.per_minute:.2f} s per page)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
