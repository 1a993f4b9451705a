"""The workbench in headless Chromium over a real crawled store: each role logs in,
searches by text and identifier, opens an advert; the evidence officer reveals
images; injected script does not run; the auditor finds it all; keyboard and
labels; screenshots of the main pages at 1280 and 800 px.

`make screenshots` runs the screenshot test with ADARCHIVE_SCREENSHOTS=DIR.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from workbench_server import (
    PASSWORD,
    ROLES,
    Served,
    plant_hostile_text,
    serve,
)
from workbench_stores import BuiltStore, copy_store

from conftest import CHROMIUM

pytestmark = [pytest.mark.crawl, pytest.mark.browser]

HOME = {
    "admin": "/users",
    "technical": "/platforms",
    "analyst": "/search",
    "evidence_officer": "/search",
    "auditor": "/search",
}
MENU = {
    "admin": ["Platforms", "Operations", "Audit trail", "Users"],
    "technical": ["Platforms", "Operations"],
    "analyst": ["Search", "Networks", "Cases", "Notes"],
    "evidence_officer": ["Search", "Networks", "Cases", "Notes", "Verify"],
    "auditor": ["Search", "Networks", "Cases", "Notes", "Audit trail"],
}


@pytest.fixture(scope="module")
def served(crawled_store: BuiltStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    store = copy_store(crawled_store, tmp_path_factory.mktemp("workbench-browser"))
    hostile = plant_hostile_text(store.db)
    for url, proc in serve(store.db):
        yield Served(url, store.db, store.out, store.truth, hostile, proc)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "headless Chromium is needed: apt-get install -y chromium"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM),
                              args=["--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"])  # fmt: skip
        yield b
        b.close()


class Watch:
    """Everything a page did that it should not: script errors, dialogs, foreign requests."""

    def __init__(self, page: Any, base: str) -> None:
        self.problems: list[str] = []
        page.on("pageerror", lambda e: self.problems.append(f"error {e}"))
        page.on("dialog", lambda d: (self.problems.append(f"dialog {d.message}"), d.dismiss()))
        page.on("request", lambda r: None if r.url.startswith(base) or r.url.startswith("data:")
                else self.problems.append(f"request {r.url}"))  # fmt: skip


def new_page(
    browser: Any, served: Served, width: int = 1280, state: dict[str, Any] | None = None
) -> tuple[Any, Any, Watch]:
    """A page in a new browser context; ``state`` (Playwright's storage state) carries a
    session cookie over from a context that logged in."""
    context = browser.new_context(viewport={"width": width, "height": 900}, storage_state=state)
    page = context.new_page()
    return context, page, Watch(page, served.url)


def log_in(page: Any, served: Served, name: str) -> None:
    """Log in with the keyboard only: type, Tab, type, Enter."""
    page.goto(served.url + "/login")
    page.get_by_label("Name").focus()
    page.keyboard.type(name)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def navigate(page: Any, act: Any) -> None:
    """Do ``act`` (a click, a key) and wait for the page it leads to."""
    with page.expect_navigation():
        act()


@pytest.mark.parametrize("role", ROLES)
def test_each_role_logs_in_and_sees_its_menu(browser: Any, served: Served, role: str) -> None:
    context, page, watch = new_page(browser, served)
    log_in(page, served, role)
    assert page.url == served.url + HOME[role]
    menu = page.get_by_role("navigation", name="Main").get_by_role("link").all_inner_texts()
    assert menu == MENU[role]
    assert role.replace("_", " ") in page.inner_text("header")
    navigate(page, page.get_by_role("button", name="Log out").click)
    assert page.url == served.url + "/login"
    page.goto(served.url + HOME[role])
    assert page.url == served.url + "/login"  # the session is gone on the server
    assert watch.problems == []
    context.close()


def test_analyst_searches_text_and_identifier_and_opens_an_advert(
    browser: Any, served: Served
) -> None:
    # an advert of a planted network: several adverts share its phone
    ad_id, ident_kind, ident_value, title = served.query(
        "SELECT ai.ad_id, i.kind, i.value, ad.title FROM ad_identifier ai "
        "JOIN identifier i ON i.id = ai.identifier_id JOIN ad ON ad.id = ai.ad_id "
        "WHERE ai.field = 'body' AND i.kind = 'phone' AND ad.id != ? "
        "AND i.id IN (SELECT identifier_id FROM ad_identifier GROUP BY identifier_id "
        "HAVING count(DISTINCT ad_id) > 1) ORDER BY ai.ad_id LIMIT 1", served.hostile_ad)[0]  # fmt: skip
    words = sorted(re.findall(r"\w+", title), key=len, reverse=True)[:2]
    context, page, watch = new_page(browser, served)
    log_in(page, served, "analyst")
    page.get_by_label("Text").fill(" ".join(words))
    navigate(page, lambda: page.keyboard.press("Enter"))
    count = page.get_by_role("status").inner_text()
    assert re.match(r"\d+ adverts?", count), count
    navigate(page, page.get_by_role("link", name=title).first.click)
    assert page.url == f"{served.url}/ads/{ad_id}"
    # identifiers are highlighted in the text and link to a search for them
    marked = page.locator(".adtext a.ident")
    assert marked.count() >= 1
    assert marked.first.evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
    navigate(page, page.locator(f".adtext a.ident-{ident_kind}").first.click)
    assert "identifier=" in page.url
    status = page.get_by_role("status").inner_text()
    assert ident_value in status
    sharing = {r[0] for r in served.query(
        "SELECT DISTINCT ai.ad_id FROM ad_identifier ai JOIN identifier i ON i.id = ai.identifier_id "
        "WHERE i.kind = ? AND i.value = ?", ident_kind, ident_value)}  # fmt: skip
    assert status.startswith(f"{len(sharing)} advert")
    shown = {int(h.split("/")[-1]) for h in page.locator("table.results a").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))")}  # fmt: skip
    assert shown == sharing
    # the advert page also lists its captures and, once analysed, its linked adverts
    page.goto(f"{served.url}/ads/{ad_id}")
    captures = page.locator("table.captures tbody tr")
    assert captures.count() >= 1
    assert ".warc.gz" in captures.first.inner_text()
    assert page.locator("#links-h + table tbody tr").count() >= 1
    # any written form of the identifier finds the same adverts
    page.goto(served.url + "/search")
    page.get_by_label("Identifier").fill(f"{ident_kind}:{ident_value}")
    navigate(page, page.get_by_role("button", name="Search").click)
    assert page.get_by_role("status").inner_text() == status
    assert watch.problems == []
    context.close()


def _image_ad(served: Served) -> int:
    return int(served.query(
        "SELECT min(ad_id) FROM ad_image WHERE capture_id IS NOT NULL AND ad_id != ?",
        served.hostile_ad)[0][0])  # fmt: skip


def test_images_blurred_until_the_evidence_officer_reveals_them(
    browser: Any, served: Served
) -> None:
    ad = _image_ad(served)
    context, page, watch = new_page(browser, served)
    log_in(page, served, "analyst")
    page.goto(f"{served.url}/ads/{ad}")
    img = page.locator("ul.images img").first
    assert "blur" in img.evaluate("e => getComputedStyle(e).filter")
    assert img.get_attribute("src").endswith("/blurred")
    assert page.get_by_role("button", name=re.compile("Reveal")).count() == 0
    context.close()

    context, page, watch = new_page(browser, served)
    log_in(page, served, "evidence_officer")
    page.goto(f"{served.url}/ads/{ad}")
    head = served.audit_head()
    navigate(page, page.get_by_role("button", name=re.compile("Reveal")).click)
    img = page.locator("ul.images img").first
    img.wait_for()
    assert img.get_attribute("src").endswith("/original")
    assert img.evaluate("e => getComputedStyle(e).filter") == "none"
    page.wait_for_function("Array.from(document.images).every(i => i.complete)")
    assert page.evaluate("Array.from(document.images).every(i => i.naturalWidth > 0)")
    actions = [a for (a,) in served.query(
        "SELECT action FROM audit_event WHERE seq > ? AND actor = 'evidence_officer'", head)]  # fmt: skip
    assert "image.reveal" in actions and "image.original" in actions
    assert watch.problems == []
    context.close()


def test_script_injected_through_advert_text_does_not_run(browser: Any, served: Served) -> None:
    context, page, watch = new_page(browser, served)
    log_in(page, served, "analyst")
    page.goto(f"{served.url}/search?q=tutor")
    page.goto(f"{served.url}/ads/{served.hostile_ad}")
    page.locator("h1").hover()
    page.locator(".adtext").hover()
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.evaluate("document.scripts.length") == 0
    assert page.locator(".adtext img, .adtext b, h1 script").count() == 0
    assert "<script>window.__pwned = 1" in page.inner_text("h1")
    assert '<img src="/x" onerror=' in page.inner_text(".adtext")
    assert watch.problems == []
    context.close()


def test_the_auditor_finds_every_step(browser: Any, served: Served) -> None:
    context, page, watch = new_page(browser, served)
    log_in(page, served, "analyst")
    page.get_by_label("Text").fill("audited words")
    navigate(page, lambda: page.keyboard.press("Enter"))
    page.goto(f"{served.url}/ads/{served.hostile_ad}")
    context.close()

    context, page, watch = new_page(browser, served)
    log_in(page, served, "auditor")
    navigate(page, page.get_by_role("link", name="Audit trail").click)
    page.get_by_label("User").fill("analyst")
    page.get_by_label("Action").select_option("search")
    navigate(page, page.get_by_role("button", name="Filter").click)
    rows = page.locator("table.audit tbody tr")
    assert rows.count() >= 1
    assert "audited words" in rows.first.inner_text()
    page.get_by_label("Action").select_option("ad.view")
    page.get_by_label("Subject").fill(f"ad:{served.hostile_ad}")
    navigate(page, page.get_by_role("button", name="Filter").click)
    assert "analyst" in page.locator("table.audit tbody tr").first.inner_text()
    page.get_by_label("Action").select_option("login")
    page.get_by_label("User").fill("")
    page.get_by_label("Subject").fill("")
    page.get_by_label("Verify the chain").check()
    navigate(page, page.get_by_role("button", name="Filter").click)
    assert "audit chain intact" in page.get_by_role("status").first.inner_text()
    logins = page.locator("table.audit tbody tr td:nth-child(3)").all_inner_texts()
    assert {"analyst", "auditor"} <= set(logins)
    assert watch.problems == []
    context.close()


PAGES = [
    ("login", None, "/login"),
    ("search", "analyst", "/search?q=lessons"),
    ("advert", "analyst", "/ads/{ad}"),
    ("advert-revealed", "evidence_officer", "/ads/{ad}"),
    ("networks", "analyst", "/networks"),
    ("network", "analyst", "/networks/{network}"),
    ("audit", "auditor", "/audit"),
    ("users", "admin", "/users"),
    ("platforms", "technical", "/platforms"),
    ("login-code", None, "/login"),
    ("ops-crawls", "technical", "/ops"),
    ("ops-platforms", "technical", "/ops/platforms"),
    ("ops-schedules", "technical", "/ops/schedules"),
    ("ops-watch", "technical", "/ops/watch"),
    ("account", "analyst", "/account"),
    ("account-totp", "auditor", "/account"),
]
# Roles whose controls the accessibility tree must name (Playwright's aria snapshot).
CONTROL_ROLES = ("button", "textbox", "combobox", "checkbox", "radio", "spinbutton", "searchbox")


def unnamed_controls(page: Any) -> list[str]:
    """Every button, text field, select … as Chromium's accessibility tree has it, unnamed."""
    found = []
    for role in CONTROL_ROLES:
        for control in page.get_by_role(role).all():
            snapshot = control.aria_snapshot().strip().splitlines()[0]
            # YAML quotes the whole line when the name holds ":" or "[": - 'textbox "a: b"'
            named = re.compile("- '?" + role + ' "[^"]+"')
            if not named.match(snapshot):
                found.append(snapshot)
    return found


def _ops_data(served: Served) -> None:
    """A schedule, a paused one and a watched phone with hits, for the operations pages,
    made by the `adarchive` commands (run one after another in one Python process: seven
    interpreters importing the CLI cost more than the whole page walk's log-ins)."""
    import json
    import subprocess
    import sys

    from conftest import REPO

    db = str(served.db)
    (phone,) = served.query(
        "SELECT i.value FROM identifier i JOIN ad_identifier ai ON ai.identifier_id = i.id "
        "WHERE i.kind = 'phone' GROUP BY i.id ORDER BY count(DISTINCT ai.ad_id) DESC LIMIT 1")[0]  # fmt: skip
    commands = [[*args, "--db", db] for args in (
        ("schedule", "add", "kz_board", "--every", "6h"),
        ("schedule", "add", "uk_directory", "--cron", "0 */6 * * *"),
        ("schedule", "pause", "2"),
        ("watch", "add", phone, "--note", "case 2026-17"),
        ("watch", "hits"),
        ("users", "add", "coder", "--role", "analyst", "--password-stdin"),  # reads stdin
        ("users", "totp", "coder"))]  # fmt: skip
    script = (
        "import json, sys\n"
        "from crawler.cli.entry import main\n"
        "for args in json.loads(sys.argv[1]):\n"
        "    code = main(args)\n"
        "    if code:\n"
        "        sys.exit(f'adarchive {args[:3]}: exit {code}')\n"
    )
    result = subprocess.run([sys.executable, "-c", script, json.dumps(commands)],
                            input=PASSWORD + "\n", capture_output=True, text=True, cwd=REPO,
                            timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    # A crawl still running elsewhere (another host), as its progress rows would show it.
    import sqlite3

    with sqlite3.connect(served.db) as conn:
        cur = conn.execute(
            "INSERT INTO crawl (platform_id, started_at, status, pages, ads, new_ads, errors, host,"
            " pid) SELECT id, datetime('now', '-4 minutes'), 'running', 0, 0, 0, 0, 'worker-2', 7"
            " FROM platform WHERE name = 'kz_board'")  # fmt: skip
        conn.execute(
            "INSERT INTO crawl_progress (crawl_id, updated_at, pages, ads, errors, pending,"
            " refusals_json) VALUES (?, datetime('now'), 140, 31, 0, 260, ?)",
            (cur.lastrowid, '{"robots": 3, "offsite": 12}'))  # fmt: skip


def test_pages_labelled_keyboard_reachable_and_screenshots(browser: Any, served: Served,
                                                            tmp_path: Path) -> None:  # fmt: skip
    out = Path(os.environ.get("ADARCHIVE_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    ad = _image_ad(served)
    network = served.query("SELECT id FROM network WHERE strong = 1 ORDER BY size DESC LIMIT 1")[0][
        0
    ]
    _ops_data(served)
    # Each role logs in once through the form and keeps its page for all its pages, at
    # both widths (logging in 30 times cost a third of this test; a new page, its first
    # screenshot above all, costs Chromium twice what a navigation in an open one does).
    # The log-in pages (no role) open in fresh contexts: nobody is logged in there.
    tabs: dict[str, tuple[Any, Any, Watch]] = {}
    for width in (1280, 800):
        for name, role, path in PAGES:
            if role and role not in tabs:
                tabs[role] = new_page(browser, served, width)
                log_in(tabs[role][1], served, role)
            context, page, watch = tabs[role] if role else new_page(browser, served, width)
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(served.url + path.format(ad=ad, network=network))
            if role:  # still logged in: the page is the role's, not the log-in form
                assert page.url == served.url + path.format(ad=ad, network=network), name
            if name == "advert-revealed":
                navigate(page, page.get_by_role("button", name=re.compile("Reveal")).click)
                page.wait_for_function("Array.from(document.images).every(i => i.complete)")
            if name == "login-code":  # the second step of a log-in with TOTP
                log_in(page, served, "coder")
                assert page.url == served.url + "/login"
                assert page.get_by_label("Code").is_visible()
            if name == "account-totp":  # the secret, shown once, and the confirming form
                if page.get_by_role("button", name="Cancel the set-up").count():
                    navigate(page, page.get_by_role("button", name="Cancel the set-up").click)
                navigate(page, page.get_by_role("button", name="Set up two-step log-in").click)
                assert page.get_by_label("Code from the app").is_visible()
            if width == 1280:
                assert unnamed_controls(page) == [], name
            # every form control has a label, and nothing is wider than the window
            unlabelled = page.evaluate(
                "Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea'))"
                ".filter(e => !e.labels || e.labels.length === 0).map(e => e.name)")  # fmt: skip
            assert unlabelled == [], (name, unlabelled)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, (name, width, overflow)
            shot = out / f"{name}-{width}.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 5000
            # the first Tab reaches the skip link, and it is shown when focused
            page.keyboard.press("Tab")
            assert page.evaluate("document.activeElement.textContent") == "Skip to content"
            assert page.get_by_role("link", name="Skip to content").bounding_box()["x"] >= 0
            assert watch.problems == [], (name, watch.problems)
            if not role:
                context.close()
    for context, _page, _watch in tabs.values():
        context.close()
