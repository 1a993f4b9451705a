"""`adarchive demo`: serve the synthetic fixture web and crawl it end to end.

Everything happens on loopback addresses of this machine; nothing touches a
real website. The crawl delay is lowered for the local web (and the output
says so); robots.txt and its Crawl-delay are still obeyed.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

from crawler.platforms import load_all
from crawler.runner import CrawlJob, build_settings, prepare_output_dir, run_crawls

DEMO_PORT = 8700
DEMO_SETTINGS = {
    # The fixture web is ours and local: a short pause instead of 2 s, no
    # AutoThrottle ramp-up. robots.txt (and its Crawl-delay) still apply.
    "DOWNLOAD_DELAY": 0.05,
    "AUTOTHROTTLE_ENABLED": False,
    "LOG_LEVEL": "WARNING",
}


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.11", port))
        except OSError:
            return False
    return True


def run_demo(out: Path, db: str | None = None, ads_per_platform: int = 16, seed: int = 1) -> int:
    """Serve, crawl every static demo platform into ``out``, print a summary."""
    from crawler.demo.server import FixtureWeb
    from crawler.demo.world import build_world
    from crawler.report import crawl_exit_status, print_crawl_summary

    prepare_output_dir(out)
    started = time.monotonic()
    world = build_world(seed=seed, ads_per_platform=ads_per_platform)
    port = DEMO_PORT if _port_free(DEMO_PORT) else 0
    definitions = load_all()
    with FixtureWeb(world, port=port) as web:
        web.write_truth(out / "truth.json")
        jobs = [
            CrawlJob(definition, web.start_urls[name])
            for name, definition in definitions.items()
            if name in web.start_urls and not definition.needs_browser
        ]
        skipped = [n for n, d in definitions.items() if d.needs_browser]
        settings = build_settings(
            out, db, overrides={**DEMO_SETTINGS, "LOG_FILE": str(out / "crawl.log")}
        )
        print(f"fixture web: {len(web.base_urls)} synthetic platforms on loopback", flush=True)
        for name, url in sorted(web.base_urls.items()):
            print(f"  {name:<14} {url}")
        print(
            f"crawling {len(jobs)} static platforms; demo politeness: DOWNLOAD_DELAY "
            f"{DEMO_SETTINGS['DOWNLOAD_DELAY']}s for the local web (default 2s), robots.txt "
            "and Crawl-delay obeyed",
            flush=True,
        )
        if skipped:
            print(f"skipped (browser rendering not enabled in this demo): {', '.join(skipped)}")
        results = run_crawls(jobs, settings)
    print()
    print_crawl_summary(results, settings)
    print(f"truth: {out / 'truth.json'}  log: {out / 'crawl.log'}")
    print(f"demo finished in {time.monotonic() - started:.1f}s")
    return crawl_exit_status(results)
