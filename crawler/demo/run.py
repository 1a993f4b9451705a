"""`adarchive demo`: serve the synthetic fixture web and crawl it end to end.

Everything happens on loopback addresses of this machine; nothing touches a
real website. The crawl delay is lowered for the local web (and the output
says so); robots.txt and its Crawl-delay are still obeyed.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

from crawler.demo.world import FIXTURE_ALLOWED_ADDRESSES
from crawler.platforms import load_all
from crawler.runner import (
    CrawlJob,
    build_settings,
    fork_spare_writer,
    prepare_output_dir,
    run_crawls,
)

DEMO_PORT = 8700
DEMO_SETTINGS = {
    # The fixture web is ours and local: a short pause instead of 2 s, no
    # AutoThrottle ramp-up. robots.txt (and its Crawl-delay) still apply.
    "DOWNLOAD_DELAY": 0.05,
    "AUTOTHROTTLE_ENABLED": False,
    "LOG_LEVEL": "WARNING",
    # The SSRF guard allows the fixture web's loopback addresses, nothing else.
    "ADARCHIVE_ALLOWED_ADDRESSES": FIXTURE_ALLOWED_ADDRESSES,
    # Browser platforms (issue 6): the demo's Chromium resolves loopback only, so
    # its own background look-ups never leave the machine either.
    "ADARCHIVE_BROWSER_ARGS": ["--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.*"],
}


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.11", port))
        except OSError:
            return False
    return True


def _browser_missing() -> str | None:
    """Why browser platforms cannot be crawled here (no Chromium), or None."""
    from crawler.browser.launch import BrowserNotFound, find_browser

    try:
        find_browser()
    except BrowserNotFound as exc:
        return str(exc)
    return None


def run_demo(out: Path, db: str | None = None, ads_per_platform: int = 16, seed: int = 1) -> int:
    """Serve, crawl every demo platform into ``out``, print a summary."""
    from crawler.crawlsummary import crawl_exit_status, print_crawl_summary
    from crawler.demo.server import FixtureWeb
    from crawler.demo.world import build_world

    prepare_output_dir(out)
    started = time.monotonic()
    world = build_world(seed=seed, ads_per_platform=ads_per_platform)
    port = DEMO_PORT if _port_free(DEMO_PORT) else 0
    definitions = load_all()
    settings = build_settings(
        out, db, overrides={**DEMO_SETTINGS, "LOG_FILE": str(out / "crawl.log")}
    )
    # Before the fixture web's thread starts: a fork is safe only in a one-thread process.
    fork_spare_writer(settings)
    with FixtureWeb(world, port=port) as web:
        web.write_truth(out / "truth.json")
        # Browser platforms (issue 6) are crawled too when a Chromium is found.
        missing = _browser_missing()
        jobs = [
            CrawlJob(definition, web.start_urls[name])
            for name, definition in definitions.items()
            if name in web.start_urls and not (definition.needs_browser and missing)
        ]
        skipped = [n for n, d in definitions.items() if d.needs_browser and missing]
        rendered = [j.definition.name for j in jobs if j.definition.needs_browser]
        print(f"fixture web: {len(web.base_urls)} synthetic platforms on loopback", flush=True)
        for name, url in sorted(web.base_urls.items()):
            print(f"  {name:<14} {url}")
        print(
            f"crawling {len(jobs)} platforms ({len(rendered)} in headless Chromium: "
            f"{', '.join(rendered) or 'none'}); demo politeness: DOWNLOAD_DELAY "
            f"{DEMO_SETTINGS['DOWNLOAD_DELAY']}s for the local web (default 2s), robots.txt "
            "and Crawl-delay obeyed",
            flush=True,
        )
        if skipped:
            print(f"skipped {', '.join(skipped)}: {missing}")
        results = run_crawls(jobs, settings)
    print()
    print_crawl_summary(results, settings)
    status = crawl_exit_status(results)
    print(f"\ntruth: {out / 'truth.json'}  log: {out / 'crawl.log'}")
    status = max(status, _analyse(out, settings.get("ADARCHIVE_DB")))
    _workbench_hint(settings.get("ADARCHIVE_DB"))  # issue 18
    print(f"demo finished in {time.monotonic() - started:.1f}s")
    return status


def _analyse(out: Path, db_url: str) -> int:
    """Link the crawled adverts, score them against truth.json, write the HTML report."""
    from crawler.cli import main as cli

    truth = str(out / "truth.json")
    print("\nanalysis (leads for review, not verdicts):", flush=True)
    status = cli(["analyze", "--db", db_url, "--truth", truth])
    report = out / "report.html"
    return max(status, cli(["report", "--db", db_url, "--truth", truth, "--out", str(report)]))


def _workbench_hint(db_url: str) -> None:
    """A demo analyst account (fresh random password), the demo case, how to open the workbench."""
    from crawler.demo.democase import make_demo_case
    from crawler.store.db import open_store
    from crawler.workbench.accounts import demo_account

    with open_store(db_url)() as session:
        name, password = demo_account(session)
        case = make_demo_case(session, name)
    login = f"{name} / {password}" if password else f"{name} (made by an earlier demo run)"
    print(f"\nworkbench: adarchive serve --db {db_url}  then  http://127.0.0.1:8000/")
    print(f"  log in as {login}, an analyst")
    if case is not None:
        made = "" if case.made else " (made by an earlier demo run)"
        print(f"  demo case {case.reference}{made}: http://127.0.0.1:8000/cases/{case.case_id}")
        for label in case.items:
            print(f"    {label}")
