"""Issue 18's acceptance test, as one flow, in headless Chromium on the demo store.

The store is made by `adarchive demo` itself (a small world: 6 adverts per
platform, its browser platform included), then accounts for the five roles
are added and `adarchive serve` runs over it with a signing key, a trusted
signer and ReplayWeb.page. Through the browser UI only: every role (and the
demo's own analyst, with the password the demo printed) logs in; the demo
case is there; the analyst searches by text, identifier and photo and opens
an advert; the evidence officer replays its archived page in ReplayWeb.page;
the analyst rejects a link and, after `adarchive analyze` (a subprocess), the
network has lost that advert; the analyst builds a case, the evidence officer
exports it, downloads the bundle (Playwright's download API), `adarchive
verify` (a subprocess) passes it and the Verify page says the same lines; the
auditor finds each step in the audit trail and the chain intact.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cli_forkserver import run_cli
from test_workbench_browser import Watch
from test_workbench_cases import cli_verify
from test_workbench_photo import reencoded
from test_workbench_replay import RWP, SECRET, replayed_text
from workbench_server import PASSWORD, ROLES, Served, add_users, serve, wait_for_exports

from conftest import CHROMIUM, REPO, adarchive
from crawler.analysis.warcread import read_payload

pytestmark = [pytest.mark.crawl, pytest.mark.browser]

DEMO_ADS = "6"  # per platform: the smallest world in which the demo plants networks
CASE = "OP-E2E-18"


@dataclass
class Demo:
    served: Served
    demo_user: str
    demo_password: str
    demo_case: int
    demo_items: list[str]
    env: dict[str, str]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    if not (RWP / "sw.js").exists():
        pytest.fail(f"ReplayWeb.page's static build is not at {RWP}; run: make tools")
    out = tmp_path_factory.mktemp("workbench-e2e")
    made = adarchive("demo", "--out", str(out), "--ads", DEMO_ADS, timeout=600)
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
    # What the demo prints at the end: the URL, its analyst account, its case.
    login = re.search(r"log in as (\S+) / (\S+), an analyst", made.stdout)
    case = re.search(r"demo case DEMO-1: http://127\.0\.0\.1:8000/cases/(\d+)\n((?:    .+\n)+)",
                     made.stdout)  # fmt: skip
    assert "workbench: adarchive serve --db" in made.stdout and login and case, made.stdout
    db = out / "adarchive.db"
    add_users(db)
    keys = out / "keys"
    adarchive("keys", "generate", "--out", str(keys), check=True)
    signers = out / "trusted-signers.json"
    adarchive("keys", "trust", str(keys / "adarchive-signing-key.pub.pem"), "--name",
              "E2E unit key", "--file", str(signers), check=True)  # fmt: skip
    env = {
        "ADARCHIVE_WORKBENCH_SIGNING_KEY": str(keys / "adarchive-signing-key.pem"),
        "ADARCHIVE_TRUSTED_SIGNERS": str(signers),
        "ADARCHIVE_WORKBENCH_REPLAY_SECRET": SECRET,
        "ADARCHIVE_REPLAYWEBPAGE_DIR": str(RWP),
    }
    for url, proc in serve(db, env):
        served = Served(url, db, out, json.loads((out / "truth.json").read_text()), 0, proc)
        yield Demo(served, login.group(1), login.group(2), int(case.group(1)),
                   [line.strip() for line in case.group(2).splitlines()], env)  # fmt: skip
        wait_for_exports(served)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "headless Chromium is needed: apt-get install -y chromium"
    with sync_playwright() as p:
        # 127.* : the workbench on 127.0.0.1, the replay origin on 127.0.0.2
        b = p.chromium.launch(executable_path=str(CHROMIUM),
                              args=["--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.*"])  # fmt: skip
        yield b
        b.close()


class Session:
    """One person's browser context, logged in through the log-in form."""

    def __init__(self, browser: Any, served: Served, name: str, password: str = PASSWORD) -> None:
        self.served = served
        self.context = browser.new_context(viewport={"width": 1280, "height": 900},
                                           accept_downloads=True)  # fmt: skip
        self.page = self.context.new_page()
        self.watch = Watch(self.page, served.url)
        self.page.goto(served.url + "/login")
        self.page.get_by_label("Name").fill(name)
        self.page.get_by_label("Password").fill(password)
        self.go(self.page.get_by_role("button", name="Log in").click)
        assert not self.page.url.endswith("/login"), self.page.inner_text("main")[:300]

    def go(self, act: Any) -> None:
        """Do ``act`` (a click, a key) and wait for the page it leads to."""
        with self.page.expect_navigation():
            act()

    def menu(self, name: str) -> None:
        nav = self.page.get_by_role("navigation", name="Main")
        self.go(nav.get_by_role("link", name=name, exact=True).click)

    def close(self) -> None:
        assert self.watch.problems == [], self.watch.problems
        self.go(self.page.get_by_role("button", name="Log out").click)
        assert self.page.url == self.served.url + "/login"
        self.context.close()


def result_ids(page: Any) -> set[int]:
    hrefs = page.locator("table.results a").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))"
    )
    return {int(h.rsplit("/", 1)[1]) for h in hrefs}


def network_members(page: Any) -> set[int]:
    hrefs = page.locator("ul.members a").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))"
    )
    return {int(h.rsplit("/", 1)[1]) for h in hrefs}


def open_network(s: Session, label: str) -> None:
    s.menu("Networks")
    s.go(s.page.get_by_role("link", name=label, exact=True).click)
    assert s.page.get_by_role("heading", level=1).inner_text() == f"Network {label}"


def picks(served: Served) -> dict[str, Any]:
    """The largest strong network, one leaf link of it, its shared identifier and an advert
    of it with a stored image (for the photo search and the replay)."""
    network, label, size = served.query(
        "SELECT id, label, size FROM network WHERE strong = 1 ORDER BY size DESC, id LIMIT 1")[0]  # fmt: skip
    assert size >= 3, "the demo world planted no network of three adverts"
    members = [a for (a,) in served.query(
        "SELECT ad_id FROM ad_network WHERE network_id = ? ORDER BY ad_id", network)]  # fmt: skip
    # a stored link is one edge of a spanning set: reject the one that alone holds a leaf
    link, a, b, detail = served.query(
        "SELECT id, ad_a, ad_b, detail FROM link l WHERE ad_a IN ({0}) AND ad_b IN ({0}) AND "
        "kind = 'phone' AND (SELECT count(*) FROM link m WHERE ? IN (m.ad_a, m.ad_b) AND "
        "(m.ad_a = l.ad_b OR m.ad_b = l.ad_b)) = 1 ORDER BY id DESC LIMIT 1".format(
            ",".join(map(str, members))), members[0])[0]  # fmt: skip
    kept = [m for m in members if m != b]
    image_ad, title, path, offset = served.query(
        "SELECT a.id, a.title, w.path, c.offset FROM ad a JOIN ad_image ai ON ai.ad_id = a.id "
        "JOIN capture c ON c.id = ai.capture_id JOIN warc_file w ON w.id = c.warc_file_id "
        "JOIN image i ON i.id = ai.image_id WHERE i.phash IS NOT NULL AND a.title IS NOT NULL "
        "ORDER BY a.id IN ({}) DESC, a.id LIMIT 1".format(",".join(map(str, kept))))[0]  # fmt: skip
    page_url = served.query(
        "SELECT c.url FROM ad JOIN capture c ON c.id = ad.capture_id WHERE ad.id = ?", image_ad)[0][0]  # fmt: skip
    return {"network": label, "members": set(members), "link": link, "hub": a, "leaf": b,
            "phone": json.loads(detail)["value"], "ad": image_ad, "title": title,
            "page_url": page_url, "image": read_payload(served.out, path, int(offset))}  # fmt: skip


def audit_rows(s: Session, action: str, actor: str = "", subject: str = "") -> list[str]:
    """The auditor filters the trail with the page's own form; the rows' text."""
    page = s.page
    s.menu("Audit trail")
    page.get_by_label("User").fill(actor)
    page.get_by_label("Action").select_option(action)
    page.get_by_label("Subject").fill(subject)
    s.go(page.get_by_role("button", name="Filter").click)
    return [str(r) for r in page.locator("table.audit tbody tr").all_inner_texts()]


def test_the_whole_workbench_on_the_demo_store(demo: Demo, browser: Any, tmp_path: Path) -> None:
    served = demo.served
    p = picks(served)
    head = served.audit_head()

    # -- every role logs in, and the demo's analyst finds the demo case ------------
    for role in ROLES:
        s = Session(browser, served, role)
        assert role.replace("_", " ") in s.page.inner_text("header")
        s.close()
    s = Session(browser, served, demo.demo_user, demo.demo_password)
    s.menu("Cases")
    s.go(s.page.get_by_role("link", name="DEMO-1").click)
    assert s.page.url == f"{served.url}/cases/{demo.demo_case}"
    items = s.page.locator(".itemgrid").inner_text()
    assert all(label in items for label in demo.demo_items), (demo.demo_items, items)
    assert "network S-" in items and "phone +" in items
    s.close()

    # -- the analyst searches by text, identifier and photo, and opens an advert ---------
    s = Session(browser, served, "analyst")
    page = s.page
    words = sorted(re.findall(r"\w{4,}", p["title"]), key=len, reverse=True)[:2]
    page.get_by_label("Text").fill(" ".join(words))
    s.go(page.get_by_role("button", name="Search").click)
    assert re.match(r"\d+ adverts?", page.get_by_role("status").inner_text())
    assert p["ad"] in result_ids(page)
    written = f"{p['phone'][:3]} {p['phone'][3:7]} {p['phone'][7:]}"  # another written form
    page.get_by_label("Text").fill("")
    page.get_by_label("Identifier").fill(written)
    s.go(page.get_by_role("button", name="Search").click)
    assert p["phone"] in page.get_by_role("status").inner_text()
    assert result_ids(page) == p["members"]
    s.go(page.get_by_role("link", name="Search by photo").click)
    photo = tmp_path / "held-by-the-investigator.jpg"
    photo.write_bytes(reencoded(p["image"], 0.8))
    page.get_by_label("Photo").set_input_files(str(photo))
    s.go(page.get_by_role("button", name="Search by photo").click)
    assert p["ad"] in result_ids(page), page.inner_text("main")[:500]
    s.go(page.locator(f'table.results a[href="/ads/{p["ad"]}"]').click)
    assert page.url == f"{served.url}/ads/{p['ad']}"
    assert ".warc.gz" in page.locator("table.captures tbody tr").first.inner_text()
    assert page.get_by_role("button", name=re.compile("Replay")).count() == 0  # not hers
    s.close()

    # -- the evidence officer replays its archived page in ReplayWeb.page -------------
    s = Session(browser, served, "evidence_officer")
    s.page.goto(f"{served.url}/ads/{p['ad']}")
    s.go(s.page.get_by_role("button", name="Replay archived page (logged)").click)
    with s.context.expect_page() as opened:
        s.page.get_by_role("link", name="Open the archived page").click()
    replay = opened.value
    assert p["title"] in replayed_text(replay, p["page_url"])
    frame = next(f for f in replay.frames if "mp_/" in f.url)
    frame.wait_for_function(
        "[...document.images].some(i => i.complete && i.naturalWidth > 0)", timeout=30_000
    )
    replay.close()
    s.close()

    # -- the analyst rejects a link; after `adarchive analyze` the network lost that advert --
    s = Session(browser, served, "analyst")
    open_network(s, p["network"])
    assert network_members(s.page) == p["members"]
    row = s.page.locator(f"#link-{p['link']}")
    row.get_by_label(re.compile("Note on link")).fill("Different person: same agency switchboard.")
    s.go(row.get_by_role("button", name="Reject").click)
    assert "rejected" in s.page.locator(f"#link-{p['link']}").inner_text()
    analysed = run_cli(["analyze", "--db", str(served.db)], cwd=REPO, timeout=300)
    assert analysed.returncode == 0, analysed.stdout + analysed.stderr
    open_network(s, p["network"])
    assert network_members(s.page) == p["members"] - {p["leaf"]}
    assert f"{len(p['members']) - 1} adverts" in s.page.inner_text("main")

    # -- the analyst builds a case: an advert, the network, the identifier ----------
    s.menu("Cases")
    s.page.get_by_label("Reference").fill(CASE)
    s.page.get_by_label("Description").fill("The network after review, for the prosecutor.")
    s.go(s.page.get_by_role("button", name="Create case").click)
    case = int(s.page.url.rsplit("/", 1)[1])
    s.page.goto(f"{served.url}/ads/{p['ad']}")
    s.page.get_by_label("Add to case").select_option(label=CASE)
    s.go(s.page.get_by_role("button", name="Add to case").click)
    open_network(s, p["network"])
    s.page.get_by_label("Add to case").select_option(label=CASE)
    s.go(s.page.get_by_role("button", name="Add to case").click)
    s.page.goto(f"{served.url}/cases/{case}")
    s.page.get_by_label("Add", exact=True).select_option("identifier")
    s.page.get_by_label(re.compile("identifier as written")).fill(written)
    s.go(s.page.get_by_role("button", name="Add to case").click)
    items = s.page.locator(".itemgrid").inner_text()
    assert f"advert {p['ad']}" in items and f"network {p['network']}" in items
    assert f"phone {p['phone']}" in items
    s.close()

    # -- the evidence officer exports it, downloads it, verifies it -------------------
    s = Session(browser, served, "evidence_officer")
    s.menu("Cases")
    s.go(s.page.get_by_role("link", name=CASE).click)
    s.go(s.page.get_by_role("button", name="Export the signed bundle").click)
    s.page.locator(".export.status-done, .export.status-failed").wait_for(timeout=240_000)
    assert s.page.locator(".export.status-done").count() == 1, s.page.inner_text("#exports")
    with s.page.expect_download() as caught:
        s.page.get_by_role("link", name="Download bundle").click()
    bundle = tmp_path / caught.value.suggested_filename
    caught.value.save_as(bundle)
    assert bundle.name.startswith(f"{CASE}-") and bundle.suffix == ".wacz"
    verified = cli_verify(bundle, demo.env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "signer verified" in verified.stdout and "RESULT: integrity OK" in verified.stdout
    s.menu("Verify")
    s.page.get_by_label("Bundle file").set_input_files(str(bundle))
    s.go(s.page.get_by_role("button", name="Verify").click)
    shown = s.page.locator("pre.lines").inner_text().rstrip("\n").splitlines()
    assert shown == verified.stdout.rstrip("\n").splitlines()
    s.close()

    # -- the auditor finds each step, with who did it ------------------------------
    s = Session(browser, served, "auditor")
    logins = " ".join(audit_rows(s, "login"))
    assert all(name in logins for name in (*ROLES, demo.demo_user))
    steps = [
        ("search", "analyst", "ads", "".join(words[:1])),
        ("search", "analyst", "ads", f'"q":"","results":{len(p["members"])}'),  # the identifier
        ("search.photo", "analyst", "", "results"),
        ("ad.view", "analyst", f"ad:{p['ad']}", ""),
        ("replay.issue", "evidence_officer", f"ad:{p['ad']}", ""),
        ("replay.open", "evidence_officer", f"ad:{p['ad']}", ""),
        ("replay.fetch", "evidence_officer", f"ad:{p['ad']}", ""),
        ("link.decision", "analyst", f"link:{p['hub']}-{p['leaf']}:phone", "reject"),
        ("case.create", "analyst", f"case:{case}", CASE),
        ("case.item.add", "analyst", f"case:{case}", f"network:{p['network']}"),
        ("case.item.add", "analyst", f"case:{case}", "identifier:"),
        ("case.export", "evidence_officer", f"case:{case}", ""),
        ("case.bundle.download", "evidence_officer", f"case:{case}", ""),
        ("bundle.verify", "evidence_officer", "", "integrity OK"),
    ]
    for action, actor, subject, text in steps:
        rows = audit_rows(s, action, actor, subject)
        assert any(text in r for r in rows), (action, actor, subject, text, rows[:3])
    s.page.get_by_label("Action").select_option("")
    s.page.get_by_label("User").fill("")
    s.page.get_by_label("Subject").fill("")
    s.page.get_by_label("Verify the chain").check()
    s.go(s.page.get_by_role("button", name="Filter").click)
    assert "audit chain intact" in s.page.get_by_role("status").first.inner_text()
    s.close()
    assert served.audit_head() > head
