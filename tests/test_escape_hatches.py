"""Issue 14: the escape hatches of a static crawl, tried for real on the hostile board.

The pages under ``/escape/`` (crawler/demo/escape.py) aim non-HTTP schemes,
protocol-relative URLs and floods at the crawler; a canary on 127.0.0.1
(crawler/demo/canary.py) records every TCP connection, HTTP request and UDP
datagram. Assertions come from the canary, the crawl's stats and log, its
store and its WARC files.
"""

from __future__ import annotations

import gzip
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_hostile_crawl import HostileRun, run_hostile

from crawler.demo.canary import Canary
from crawler.demo.escape import MANY_IMAGES


@pytest.fixture(scope="module")
def canary(fixture_web: Any) -> Iterator[Canary]:
    with Canary() as running:
        fixture_web.hostile.escape.canary = running
        try:
            yield running
        finally:
            fixture_web.hostile.escape.canary = None


@pytest.fixture(scope="module")
def marker() -> str:
    """A value only the crawl's environment holds: reading /proc/self/environ would leak it."""
    return "escape-marker-" + secrets.token_hex(12)


@pytest.fixture(scope="module")
def escape(
    fixture_web: Any, canary: Canary, marker: str, tmp_path_factory: pytest.TempPathFactory
) -> HostileRun:
    canary.clear()
    out = tmp_path_factory.mktemp("escape")
    # Start URLs too: they reach the downloader as requests, where the scheme policy stops them.
    seeds = [
        fixture_web.hostile.base_url + "/escape/",
        "file:///proc/self/environ",
        f"ftp://127.0.0.1:{canary.tcp_ports[1]}/x",
    ]
    return run_hostile(fixture_web, out, ",".join(seeds), env={"ESCAPE_MARKER": marker})


def _warc_bytes(out: Path) -> bytes:
    return b"".join(gzip.decompress(p.read_bytes()) for p in (out / "warc").glob("*.warc.gz"))


def test_non_http_schemes_never_leave_the_crawler(
    escape: HostileRun, canary: Canary, marker: str
) -> None:
    assert escape.returncode == 0, escape.stderr[-3000:]
    # nothing reached the canary: no ftp/gopher connection, no protocol-relative fetch
    assert canary.hits == [] and escape.internal_log == []
    # nothing was read: the environment marker and /dev/zero's bytes are nowhere
    raw = _warc_bytes(escape.out)
    assert marker.encode() not in raw
    assert b"\0" * 4096 not in raw
    captured = {r[0] for r in escape.query("SELECT url FROM capture")}
    assert all(u.startswith("http://127.0.0.16:") for u in captured), captured
    # each refusal counted under its scheme: 2 start URLs, 4 listing links, 7 advert images
    assert escape.stat("adarchive/refused/scheme/javascript") == 2
    assert escape.stat("adarchive/refused/scheme/file") == 4
    assert escape.stat("adarchive/refused/scheme/ftp") == 3
    assert escape.stat("adarchive/refused/scheme/gopher") == 2
    assert escape.stat("adarchive/refused/scheme/data") == 1
    assert escape.stat("adarchive/refused/scheme/s3") == 1
    assert escape.stat("adarchive/refused/scheme") == 13
    # the protocol-relative image resolves to http://127.0.0.1: the address guard refuses it
    assert escape.stat("adarchive/refused/ssrf/loopback") == 1
    assert "refused (scheme) file:///proc/self/environ: scheme 'file' is never fetched" in (
        escape.stderr
    )


def test_a_bad_image_url_is_refused_alone(escape: HostileRun) -> None:
    rows = escape.query(
        "SELECT ad_image.url, ad_image.image_id FROM ad_image JOIN ad ON ad.id = ad_image.ad_id"
        " WHERE ad.external_id = 'schemes' ORDER BY ad_image.id"
    )
    assert rows[0][0].startswith("javascript:")  # listed first, refused, recorded as listed
    hashed = {url for url, image_id in rows if image_id is not None}
    base = escape.truth["base_url"]
    assert hashed == {f"{base}/escape/img/1.png", f"{base}/escape/img/2.png"}


def test_image_cap_bounds_rows_and_fetches(escape: HostileRun) -> None:
    rows = escape.query(
        "SELECT count(*) FROM ad_image JOIN ad ON ad.id = ad_image.ad_id"
        " WHERE ad.external_id = 'many-images'"
    )
    assert rows == [(10,)]
    fetched = [e for e in escape.log if e.path.startswith(("/escape/img/", "/i/"))]
    assert len(fetched) <= 10 + 2  # the capped advert's ten, the schemes advert's two
    assert escape.stat("adarchive/images/over_cap") == MANY_IMAGES - 10


def test_non_http_download_handlers_are_off() -> None:
    from scrapy.utils.project import get_project_settings

    handlers = get_project_settings().getdict("DOWNLOAD_HANDLERS")
    assert {handlers.get(s, "on") for s in ("file", "ftp", "s3", "data")} == {None}
