"""What a crawl costs before and around its pages: the evidence writer's start, Chromium's windows.

Two paired comparisons, alternating in each round (the machine is noisy), CPU of the
whole process tree: from a cgroup of its own where one can be made (as root), else
``RUSAGE_CHILDREN`` (each crawl reaps its writer and helpers before we reap it, but
Chromium's renderers are reaped by its zygote and escape it, so the pages ratio errs
high there):

* **writer**: a small static crawl (``kz_board``) with the evidence writer forked from
  the crawl (``ADARCHIVE_EVIDENCE_WRITER_FORK=True``, the default) against a new
  interpreter (False). Target: fork/exec CPU <= 0.9.
* **pages**: ``--pages`` pages opened, screenshotted and closed in the crawl's Chromium
  (Playwright, as the crawl launches it) with our ``--disable-features``
  (crawler/browser/features.py) against Playwright's flags alone. Target: quiet/plain
  CPU <= 0.8.

    .venv/bin/python bench/start_cost.py [--rounds 3] [--pages 8] [--strict]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _fixtureweb import start_server

from crawler.cpugroup import CpuGroup

REPO = Path(__file__).resolve().parent.parent
TARGET_WRITER = 0.9
TARGET_PAGES = 0.8
PAGES = """
import json, sys
from playwright.sync_api import sync_playwright
from crawler.browser.features import with_quiet_features
from crawler.browser.launch import find_browser

quiet = sys.argv[1] == "quiet"
url = sys.argv[2]
with sync_playwright() as pw:
    browser = pw.chromium.launch(executable_path=find_browser(), headless=True,
                                 args=with_quiet_features([]) if quiet else [])
    context = browser.new_context()
    for n in range(int(sys.argv[3])):
        page = context.new_page()
        page.goto(url)
        page.screenshot(full_page=True)
        page.close()
    browser.close()
"""


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


GROUP = CpuGroup(f"adarchive-bench-{os.getpid()}")


def timed(cmd: list[str]) -> tuple[float, float]:
    """(CPU seconds of the command's process tree, wall seconds)."""
    if GROUP.path is not None:
        cpu, wall = GROUP.seconds(), time.monotonic()
        result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                                preexec_fn=GROUP.join)  # fmt: skip
        spent = GROUP.seconds() - cpu
    else:
        cpu, wall = children_cpu(), time.monotonic()
        result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        spent = children_cpu() - cpu
    if result.returncode != 0:
        raise SystemExit(f"{cmd[:4]} failed:\n{result.stderr[-3000:]}")
    return spent, time.monotonic() - wall


def crawl(url: str, out: Path, fork: bool) -> tuple[float, float]:
    return timed([
        sys.executable, "-m", "crawler.cli", "crawl", "kz_board", "--start-url",
        f"kz_board={url}", "--out", str(out), "-s", "DOWNLOAD_DELAY=0.01",
        "-s", "AUTOTHROTTLE_ENABLED=False", "-s", "ADARCHIVE_ALLOWED_ADDRESSES=127.0.0.10-127.0.0.99",
        "-s", f"ADARCHIVE_EVIDENCE_WRITER_FORK={fork}", "--log-level", "WARNING",
    ])  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pages", type=int, default=8)
    parser.add_argument("--ads", type=int, default=6)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    writer_ratios, page_ratios = [], []
    with tempfile.TemporaryDirectory(prefix="adarchive-start-") as tmp:
        root = Path(tmp)
        server, urls = start_server(args.ads, root / "requests.log")
        try:
            static = urls["start_urls"]["kz_board"]
            page = urls["start_urls"]["th_board"]
            for n in range(args.rounds):
                forked = crawl(static, root / f"fork-{n}", fork=True)
                execd = crawl(static, root / f"exec-{n}", fork=False)
                quiet = timed([sys.executable, "-c", PAGES, "quiet", page, str(args.pages)])
                plain = timed([sys.executable, "-c", PAGES, "plain", page, str(args.pages)])
                writer_ratios.append(forked[0] / execd[0])
                page_ratios.append(quiet[0] / plain[0])
                print(f"round {n + 1}: crawl CPU fork {forked[0]:.2f} s / exec {execd[0]:.2f} s "
                      f"(wall {forked[1]:.2f} / {execd[1]:.2f}); {args.pages} pages CPU quiet "
                      f"{quiet[0]:.2f} s / plain {plain[0]:.2f} s")  # fmt: skip
        finally:
            server.terminate()
            server.wait(timeout=10)
    writer, pages = statistics.median(writer_ratios), statistics.median(page_ratios)
    writer_ok, pages_ok = writer <= TARGET_WRITER, pages <= TARGET_PAGES
    print(f"writer fork/exec CPU, median {writer:.3f} (target <= {TARGET_WRITER}: "
          f"{'met' if writer_ok else 'MISSED'})")  # fmt: skip
    print(f"pages quiet/plain CPU, median {pages:.3f} (target <= {TARGET_PAGES}: "
          f"{'met' if pages_ok else 'MISSED'})")  # fmt: skip
    print(f"(CPU read from {'a cgroup' if GROUP.path else 'rusage: renderers missed'})")
    GROUP.close()
    return 1 if args.strict and not (writer_ok and pages_ok) else 0


if __name__ == "__main__":
    sys.exit(main())
