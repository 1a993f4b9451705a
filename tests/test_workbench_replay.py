"""Replay of an advert's archived page from the workbench, for real.

The workbench (`adarchive serve`) runs over a crawled store with its replay
origin on another loopback host; the evidence officer asks for a replay, opens
the signed link in headless Chromium and ReplayWeb.page (its static build,
`make tools`) replays the advert's page from the per-advert archive: the
advert's text must be inside the replayed frame. Analysts and auditors get
403; forged, altered and expired links get 403; the audit trail lists it all.
"""

from __future__ import annotations

import io
import json
import os
import re
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest
from workbench_server import (
    PASSWORD,
    REPLAY_HOST,
    Served,
    add_users,
    csrf,
    plant_hostile_text,
    serve,
)
from workbench_stores import BuiltStore, copy_store

from conftest import CHROMIUM
from crawler.workbench.replaytoken import _b64, _unb64, sign

pytestmark = [pytest.mark.crawl, pytest.mark.browser]

REPO = Path(__file__).resolve().parent.parent
RWP = REPO / ".tools" / "replaywebpage"
SECRET = "a test-only replay key, not a real one: 0123456789"


def shots_dir(tmp_path: Path) -> Path:
    """Where screenshots go: ADARCHIVE_SCREENSHOTS (`make screenshots`), else the test's folder."""
    out = Path(os.environ.get("ADARCHIVE_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="module")
def served(crawled_store: BuiltStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    if not (RWP / "sw.js").exists() or not (RWP / "ui.js").exists():
        pytest.fail(f"ReplayWeb.page's static build is not at {RWP}; run: make tools")
    store = copy_store(crawled_store, tmp_path_factory.mktemp("workbench-replay"))
    hostile = plant_hostile_text(store.db)
    env = {"ADARCHIVE_WORKBENCH_REPLAY_SECRET": SECRET, "ADARCHIVE_REPLAYWEBPAGE_DIR": str(RWP)}
    for url, proc in serve(store.db, env):
        s = Served(url, store.db, store.out, store.truth, hostile, proc)
        yield s
        for c in s.clients.values():
            c.close()


def advert(served: Served) -> tuple[int, str, str]:
    """(id, title, page URL) of a crawled advert with stored images (not the hostile one)."""
    row = served.query(
        "SELECT a.id, a.title, c.url FROM ad a JOIN capture c ON c.id = a.capture_id "
        "WHERE a.id != ? AND a.title IS NOT NULL AND EXISTS (SELECT 1 FROM ad_image ai "
        "WHERE ai.ad_id = a.id AND ai.capture_id IS NOT NULL) ORDER BY a.id LIMIT 1",
        served.hostile_ad,
    )[0]
    return int(row[0]), str(row[1]), str(row[2])


def issue(served: Served, role: str, ad_id: int) -> httpx.Response:
    client = served.client(role)
    token = csrf(client.get("/search").text)
    return client.post(f"/ads/{ad_id}/replay", data={"csrf_token": token})


def link_of(answer: httpx.Response) -> str:
    match = re.search(r'id="open-replay" href="([^"]+)"', answer.text)
    assert match, answer.text[:2000]
    return match.group(1).replace("&amp;", "&")


def audit_rows(served: Served, action: str, after: int = 0) -> list[tuple[Any, ...]]:
    return served.query(
        "SELECT actor, subject, details FROM audit_event WHERE action = ? AND seq > ? ORDER BY seq",
        action,
        after,
    )


@pytest.mark.parametrize("role", ["analyst", "auditor"])
def test_only_the_evidence_officer_may_ask_for_a_replay(served: Served, role: str) -> None:
    ad_id, _, _ = advert(served)
    # no button for them on the advert page (its view is audited: counted after it)
    assert f"/ads/{ad_id}/replay" not in served.client(role).get(f"/ads/{ad_id}").text
    head = served.audit_head()
    answer = issue(served, role, ad_id)
    assert answer.status_code == 403 and "ads.replay" in answer.text
    assert "/r/" not in answer.text
    assert served.audit_head() == head  # refused: nothing recorded, nothing issued


def test_the_link_is_signed_expires_and_is_audited(served: Served) -> None:
    ad_id, _, page_url = advert(served)
    served.client("evidence_officer")
    head = served.audit_head()
    answer = issue(served, "evidence_officer", ad_id)
    assert answer.status_code == 200, answer.text[:500]
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    link = link_of(answer)
    origin = f"{urlsplit(link).scheme}://{urlsplit(link).netloc}"
    assert urlsplit(link).hostname == REPLAY_HOST  # another host: no workbench cookie goes there
    token = link.rsplit("/r/", 1)[1]
    (actor, subject, details), = audit_rows(served, "replay.issue", head)  # fmt: skip
    assert (actor, subject) == ("evidence_officer", f"ad:{ad_id}")
    assert token not in details and json.loads(details)["url"] == page_url  # auditors never see it

    with httpx.Client(timeout=60) as replay:
        opened = replay.get(link)
        assert opened.status_code == 303
        location = opened.headers["location"]
        assert location.startswith("/index.html?source=")
        source = unquote(parse_qs(urlsplit(location).query)["source"][0])
        assert f"url={page_url}" in unquote(location)
        part = replay.get(origin + source, headers={"Range": "bytes=0-3"})
        assert part.status_code == 206 and part.content == b"PK\x03\x04"
        whole = replay.get(origin + source)
        assert whole.status_code == 200 and whole.headers["referrer-policy"] == "no-referrer"
        with zipfile.ZipFile(io.BytesIO(whole.content)) as wacz:
            index = wacz.read("indexes/index.cdx").decode()
            pages = wacz.read("pages/pages.jsonl").decode()
        assert page_url in index and page_url in pages
        images = served.query(
            "SELECT c.url FROM ad_image ai JOIN capture c ON c.id = ai.capture_id "
            "WHERE ai.ad_id = ?",
            ad_id,
        )
        assert images and all(url in index for (url,) in images)
        # The replay origin serves no workbench page.
        assert replay.get(origin + "/search").status_code == 404

        refused = served.audit_head()
        body, mac = token.split(".")
        other = _b64(_unb64(body).replace(f'"ad":{ad_id}'.encode(), b'"ad":1'))
        expired = sign(SECRET.encode(), ad_id, "evidence_officer", int(time.time()) - 1)
        forged = sign(b"not the server's key, but long enough", ad_id, "evidence_officer",
                      int(time.time()) + 600)  # fmt: skip
        for bad in (f"{other}.{mac}", expired, forged, token[:-2] + "AA"):
            assert replay.get(f"{origin}/r/{bad}").status_code == 403
            assert replay.get(f"{origin}/a/{bad}/advert.wacz").status_code == 403
        reasons = [json.loads(d)["reason"] for _, _, d in audit_rows(served, "replay.refused",
                                                                     refused)]  # fmt: skip
        assert len(reasons) == 8 and "link expired" in reasons
        assert any("forged or altered" in r for r in reasons)

    fetches = audit_rows(served, "replay.fetch", head)
    assert len(fetches) == 2 and {a for a, _, _ in fetches} == {"evidence_officer"}
    assert [json.loads(d)["range"] for _, _, d in fetches] == ["bytes=0-3", ""]
    assert audit_rows(served, "replay.open", head)[0][:2] == ("evidence_officer", f"ad:{ad_id}")


def test_a_flagged_image_is_not_in_the_replay(served: Served) -> None:
    """Images on the known-hash list are never rendered: replay leaves them out too."""
    ad_id, image_url = served.query(
        "SELECT ai.ad_id, c.url FROM ad_image ai JOIN capture c ON c.id = ai.capture_id "
        "WHERE ai.ad_id != ? ORDER BY ai.ad_id DESC LIMIT 1",
        advert(served)[0],
    )[0]
    served.query(
        "UPDATE image SET flagged = 1 WHERE id = (SELECT image_id FROM ad_image ai "
        "JOIN capture c ON c.id = ai.capture_id WHERE ai.ad_id = ? AND c.url = ?)",
        ad_id,
        image_url,
    )
    link = link_of(issue(served, "evidence_officer", ad_id))
    origin = link.split("/r/")[0]
    with httpx.Client(timeout=60) as replay:
        location = replay.get(link).headers["location"]
        source = unquote(parse_qs(urlsplit(location).query)["source"][0])
        whole = replay.get(origin + source)
    with zipfile.ZipFile(io.BytesIO(whole.content)) as wacz:
        assert image_url not in wacz.read("indexes/index.cdx").decode()


def test_without_replaywebpage_the_page_says_how_to_install_it(
    served: Served, tmp_path: Path
) -> None:
    """A server whose ReplayWeb.page folder is empty issues no link and names the fix."""
    from workbench_server import InThread, login

    from crawler.store.db import open_store
    from crawler.workbench.app import create_app
    from crawler.workbench.replay_origin import ReplayConfig

    config = ReplayConfig("127.0.0.3", 9, "http://127.0.0.3:9", tmp_path, 600, b"k" * 32)
    app = create_app(open_store(f"sqlite:///{served.db}", create=False), served.out,
                     secure_cookies=False, replay=config)  # fmt: skip
    ad_id = advert(served)[0]
    with InThread(app) as server:
        client = login(server.url, "evidence_officer", PASSWORD)
        head = served.audit_head()
        answer = client.post(f"/ads/{ad_id}/replay", data={"csrf_token": csrf(
            client.get(f"/ads/{ad_id}").text)})  # fmt: skip
        client.close()
    assert answer.status_code == 503
    assert "make tools" in answer.text and "ADARCHIVE_REPLAYWEBPAGE_DIR" in answer.text
    assert "/r/" not in answer.text
    assert not audit_rows(served, "replay.issue", head)


def replayed_text(page: Any, page_url: str, timeout: float = 90) -> str:
    """The body text of ReplayWeb.page's replay frame showing ``page_url``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for frame in page.frames:
            if "mp_/" in frame.url and page_url.split("://", 1)[1] in frame.url:
                try:
                    text = frame.inner_text("body", timeout=2000)
                except Exception:  # noqa: BLE001 (the frame is still loading: poll again)
                    text = ""
                if text:
                    return str(text)
        page.wait_for_timeout(500)
    raise AssertionError("ReplayWeb.page showed no replay frame: " + page.inner_text("body")[:500])


def test_the_evidence_officer_replays_the_advert_in_the_browser(
    served: Served, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    ad_id, title, page_url = advert(served)
    head = served.audit_head()
    shots = shots_dir(tmp_path)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.*"],
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.goto(served.url + "/login")
            page.get_by_label("Name").fill("evidence_officer")
            page.get_by_label("Password").fill(PASSWORD)
            with page.expect_navigation():
                page.get_by_role("button", name="Log in").click()
            page.goto(f"{served.url}/ads/{ad_id}")
            page.screenshot(path=str(shots / "replay-advert-1280.png"))
            with page.expect_navigation():
                page.get_by_role("button", name="Replay archived page (logged)").click()
            assert page.url == f"{served.url}/ads/{ad_id}/replay"
            page.screenshot(path=str(shots / "replay-issued-1280.png"), full_page=True)
            with context.expect_page() as opened:
                page.get_by_role("link", name="Open the archived page").click()
            replay = opened.value
            text = replayed_text(replay, page_url)
            assert title in text
            frame = next(f for f in replay.frames if "mp_/" in f.url)
            # Unblurred: the advert's images load from the archive in the replay frame.
            frame.wait_for_function(
                "[...document.images].some(i => i.complete && i.naturalWidth > 0)", timeout=30000
            )
            replay.screenshot(path=str(shots / "replay-1280.png"))
            # The same three pages at 800 px: nothing of the workbench's wider than the window,
            # and ReplayWeb.page still shows the advert in its frame.
            replay.set_viewport_size({"width": 800, "height": 900})
            replay.wait_for_timeout(500)
            assert title in replayed_text(replay, page_url)
            replay.screenshot(path=str(shots / "replay-800.png"))
            page.set_viewport_size({"width": 800, "height": 900})
            page.screenshot(path=str(shots / "replay-issued-800.png"), full_page=True)
            assert page.evaluate("document.documentElement.scrollWidth") <= 800
            page.goto(f"{served.url}/ads/{ad_id}")
            page.screenshot(path=str(shots / "replay-advert-800.png"))
            assert page.evaluate("document.documentElement.scrollWidth") <= 800
            # Isolation: the browser holds no workbench cookie for the replay origin.
            assert context.cookies(replay.url) == []
            assert context.cookies(served.url)  # while it does for the workbench
            context.close()
        finally:
            browser.close()
    assert audit_rows(served, "replay.issue", head) and audit_rows(served, "replay.open", head)
    assert len(audit_rows(served, "replay.fetch", head)) >= 2  # ReplayWeb.page reads by ranges

    auditor = served.client("auditor")
    trail = auditor.get("/audit", params={"action": "replay.fetch", "subject": f"ad:{ad_id}"})
    assert trail.status_code == 200 and "replay.fetch" in trail.text
    assert "evidence_officer" in trail.text


@pytest.mark.slow
def test_a_browser_rendered_advert_replays(
    browser_crawled_store: BuiltStore, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """th_board, the JavaScript platform (crawled in headless Chromium), replays too.

    The static store has no browser platform, so this test serves a copy of the session's
    browser crawl (tests/workbench_stores.py) and replays one of its th_board adverts."""
    from playwright.sync_api import sync_playwright

    store = copy_store(browser_crawled_store, tmp_path_factory.mktemp("workbench-replay-browser"))
    db = store.db
    add_users(db)
    env = {"ADARCHIVE_WORKBENCH_REPLAY_SECRET": SECRET, "ADARCHIVE_REPLAYWEBPAGE_DIR": str(RWP)}
    for url, proc in serve(db, env):
        served = Served(url, db, store.out, {}, 0, proc)
        ad_id, title, page_url = served.query(
            "SELECT a.id, a.title, c.url FROM ad a JOIN capture c ON c.id = a.capture_id "
            "JOIN platform p ON p.id = a.platform_id "
            "WHERE p.name = 'th_board' AND a.title IS NOT NULL ORDER BY a.id LIMIT 1"
        )[0]
        link = link_of(issue(served, "evidence_officer", ad_id))
        served.clients["evidence_officer"].close()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=str(CHROMIUM),
                args=["--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.*"],
            )
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(link)
                text = replayed_text(page, page_url)
                page.screenshot(path=str(shots_dir(tmp_path) / "replay-th_board-1280.png"))
            finally:
                browser.close()
        assert title in text
