"""One request at a time per site, even with no pause between them (crawler/politeness/downloader.py).

The fixture web answers each request after LATENCY seconds, so two requests the
site saw less than LATENCY apart were in flight together. Scrapy's own downloader
is the control: with ``DOWNLOAD_DELAY = 0`` it sends a listing's advert links all
at once (2.19, asyncio reactor), which is what makes the assertion on ours mean
something.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import FAST, adarchive, start_url_args
from crawler.demo.server import FixtureWeb
from crawler.demo.world import build_world

pytestmark = [pytest.mark.crawl]

LATENCY = 0.1
PLATFORM = "uk_directory"


def closest_starts(downloader: str, out: Path) -> float:
    """The shortest time between two requests the site saw in one crawl with no delay."""
    web = FixtureWeb(build_world(seed=7, ads_per_platform=6), port=0, latency=LATENCY)
    web.start()
    try:
        assert PLATFORM in web.start_urls, sorted(web.start_urls)
        result = adarchive(
            "crawl", PLATFORM, *start_url_args(web, [PLATFORM]), "--out", str(out), *FAST,
            "-s", "DOWNLOAD_DELAY=0", "-s", f"DOWNLOADER={downloader}",
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr[-3000:]
        starts = sorted(e.time for e in web.request_log if e.platform == PLATFORM)
    finally:
        web.stop()
    assert len(starts) >= 8, starts  # robots.txt, the listing, six adverts
    return min(b - a for a, b in zip(starts, starts[1:], strict=False))


def test_scrapys_downloader_sends_a_sites_requests_together(tmp_path: Path) -> None:
    assert closest_starts("scrapy.core.downloader.Downloader", tmp_path) < LATENCY / 2


def test_ours_sends_one_at_a_time(tmp_path: Path) -> None:
    assert closest_starts("crawler.politeness.downloader.PoliteDownloader", tmp_path) >= (
        LATENCY * 0.9
    )
