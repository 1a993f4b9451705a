"""Bundles replay in the viewers evidence recipients use: ReplayWeb.page and pywb.

ReplayWeb.page's own static build (``make tools``) and the bundle are served
from loopback by a server that answers Range requests, and opened in headless
Chromium; the advert's text must be on the replayed page. The same bundle is
unpacked into pywb (its WARCs and index) and replayed there.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from evidence_tools import copy_store
from pywb import COLLECTION, free_port, require_pywb
from rangeserver import serve

from conftest import CHROMIUM, FAST, CrawlRun, adarchive, start_url_args
from crawler.demo.world import FIXTURE_ALLOWED_ADDRESSES

pytestmark = [pytest.mark.crawl, pytest.mark.browser]

REPO = Path(__file__).resolve().parent.parent
RWP = REPO / ".tools" / "replaywebpage"
# Chromium's own background look-ups stay off the network: only loopback resolves.
HOST_RULES = "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.*"
BROWSER_ARGS = '["--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.*"]'


def require_replaywebpage() -> Path:
    if not (RWP / "sw.js").exists() or not (RWP / "ui.js").exists():
        pytest.fail(f"ReplayWeb.page's static build is not at {RWP}; run: make tools")
    return RWP


def export_one_ad(db: Path, out: Path, platform: str | None = None) -> dict[str, Any]:
    """Export the first advert (of ``platform``) with a title; its URL, title and bundle."""
    where = "WHERE a.title IS NOT NULL AND a.capture_id IS NOT NULL"
    params: tuple[str, ...] = ()
    if platform:
        where += " AND p.name = ?"
        params = (platform,)
    with sqlite3.connect(db) as conn:
        name, external, title, url, fetched = conn.execute(
            "SELECT p.name, a.external_id, a.title, c.url, c.fetched_at FROM ad a "
            "JOIN platform p ON p.id = a.platform_id JOIN capture c ON c.id = a.capture_id "
            f"{where} ORDER BY a.id LIMIT 1",
            params,
        ).fetchone()
    result = adarchive("export", "--db", str(db), "--out", str(out), "--ad", f"{name}:{external}")
    assert result.returncode == 0, result.stdout + result.stderr
    return {"bundle": out, "title": title, "url": url, "fetched": fetched}


@pytest.fixture(scope="module")
def static_ad(static_crawl: CrawlRun, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("replay-static")
    data = copy_store(static_crawl.out, root / "data")
    return export_one_ad(data / "adarchive.db", root / "static-ad.wacz")


@pytest.fixture(scope="module")
def browser_ad(fixture_web: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An advert of th_board, the JavaScript platform, crawled in headless Chromium."""
    root = tmp_path_factory.mktemp("replay-browser")
    result = adarchive(
        "crawl", "th_board", *start_url_args(fixture_web, ["th_board"]), "--out", str(root),
        *FAST, "-s", f"ADARCHIVE_ALLOWED_ADDRESSES={FIXTURE_ALLOWED_ADDRESSES}",
        "-s", f"ADARCHIVE_BROWSER_ARGS={BROWSER_ARGS}",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    return export_one_ad(root / "adarchive.db", root / "browser-ad.wacz", "th_board")


def replay_in_replaywebpage(
    bundle: Path, url: str, fetched: str, workdir: Path
) -> tuple[str, Path, list[str]]:
    """(text of the replayed page, screenshot path, server log) as ReplayWeb.page shows it."""
    from playwright.sync_api import sync_playwright

    site = workdir / "site"
    shutil.copytree(require_replaywebpage(), site)
    shutil.copy(bundle, site / bundle.name)
    shot = workdir / "replaywebpage.png"
    with serve(site) as (base, log), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=[HOST_RULES])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            source = urllib.parse.quote(f"{base}/{bundle.name}", safe="")
            target = urllib.parse.quote(url, safe="")
            ts = "".join(ch for ch in fetched[:23] if ch.isdigit())  # 17 digits: to the ms
            page.goto(f"{base}/index.html?source={source}#view=replay&url={target}&ts={ts}")
            text, moved = "", False
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and not text:
                for frame in page.frames:
                    if "mp_/" not in frame.url or url.split("://", 1)[1] not in frame.url:
                        continue
                    if not moved:
                        # The UI rounds the time to the second; the index is to the ms, and
                        # a browser page has its age-gate capture in the same second.
                        frame.goto(re.sub(r"/\d{14,17}mp_/", f"/{ts}mp_/", frame.url))
                        moved = True
                    try:
                        text = frame.inner_text("body", timeout=2000)
                    except Exception:  # noqa: BLE001 (frame still loading: poll again)
                        text = ""
                page.wait_for_timeout(500)
            page.screenshot(path=str(shot))
            errors = page.inner_text("body", timeout=5000) if not text else ""
        finally:
            browser.close()
    assert text, f"ReplayWeb.page showed no replay frame; page said: {errors[:500]}"
    return text, shot, log


def test_static_advert_replays_in_replaywebpage(static_ad: dict[str, Any], tmp_path: Path) -> None:
    text, shot, log = replay_in_replaywebpage(
        static_ad["bundle"], static_ad["url"], static_ad["fetched"], tmp_path
    )
    assert static_ad["title"] in text
    assert any(" 206 " in line for line in log), "the bundle was not read by Range requests"
    assert shot.stat().st_size > 0


def test_browser_advert_replays_in_replaywebpage(
    browser_ad: dict[str, Any], tmp_path: Path
) -> None:
    """The page document the advert names (after the age gate) is the one replayed at its time."""
    text, _, _ = replay_in_replaywebpage(
        browser_ad["bundle"], browser_ad["url"], browser_ad["fetched"], tmp_path
    )
    assert browser_ad["title"] in text


@pytest.mark.parametrize("which", ["static_ad", "browser_ad"])
def test_bundle_replays_in_pywb(which: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """pywb from the bundle's own WARCs and CDXJ index (``wb-manager add --unpack-wacz``)."""
    import subprocess
    import urllib.error
    import urllib.request

    ad = request.getfixturevalue(which)
    # pywb addresses captures to the second only: a browser page's age-gate capture shares
    # the second with the advert's, so the advert is read from its rendered-DOM record.
    target = f"mp_/{ad['url']}" if which == "static_ad" else f"id_/urn:dom:{ad['url']}"
    bin_dir = require_pywb()
    for cmd in (["init", COLLECTION], ["add", "--unpack-wacz", COLLECTION, str(ad["bundle"])]):
        done = subprocess.run(
            [str(bin_dir / "wb-manager"), *cmd], cwd=tmp_path, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr
    port = free_port()
    proc = subprocess.Popen(
        [str(bin_dir / "wayback"), "-b", "127.0.0.1", "-p", str(port), "-d", str(tmp_path)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        body, status, charset = b"", 0, None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not status:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/{COLLECTION}/{target}", timeout=10
                ) as response:
                    body, status = response.read(), response.status
                    charset = response.headers.get_content_charset()
            except urllib.error.HTTPError as exc:
                body, status = exc.read(), exc.code
            except OSError:  # not listening yet
                time.sleep(0.3)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert status == 200, body[:300]
    # the page as archived, in its own charset (jp_dating's is Shift_JIS)
    assert ad["title"] in body.decode(charset or "utf-8"), charset
