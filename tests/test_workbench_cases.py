"""Notes, tags and cases in the workbench over a real crawled store, served by `adarchive serve`
with a signing key and a trusted-signers file: notes and tags on the three kinds of
subject, CSRF refusal, guessed ids, the upload limit, and in headless Chromium the whole
path: an analyst builds a case, the evidence officer exports, downloads and verifies it
(`adarchive verify` and the upload page say the same lines), the auditor finds each step.

The role matrix cells of the case permissions are in tests/test_workbench_http.py.
`make screenshots` runs the screenshot test with ADARCHIVE_SCREENSHOTS=DIR.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_forkserver import run_cli
from test_workbench_browser import CHROMIUM, Watch, log_in, navigate
from workbench_server import (
    Served,
    csrf,
    serve,
    wait_for_exports,
)
from workbench_stores import BuiltStore, copy_store

from conftest import REPO, adarchive

pytestmark = [pytest.mark.crawl]

TABLES = ("workbench_note", "workbench_tag", "workbench_case", "case_item", "case_event",
          "case_export")  # fmt: skip
UPLOAD_MAX = 3_000_000


@pytest.fixture(scope="module")
def served(crawled_store: BuiltStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    store = copy_store(crawled_store, tmp_path_factory.mktemp("workbench-cases"))
    out, db, truth = store.out, store.db, store.truth
    keys = out / "keys"
    adarchive("keys", "generate", "--out", str(keys), check=True)
    key = keys / "adarchive-signing-key.pem"
    adarchive("keys", "certificate", "--key", str(key), "--name", "Test Officer",
              "--unit", "Test Unit", check=True)  # fmt: skip
    signers = out / "trusted-signers.json"
    adarchive("keys", "trust", str(keys / "adarchive-signing-key.pub.pem"), "--name",
              "Test Unit key", "--file", str(signers), check=True)  # fmt: skip
    env = {
        "ADARCHIVE_WORKBENCH_SIGNING_KEY": str(key),
        "ADARCHIVE_TRUSTED_SIGNERS": str(signers),
        "ADARCHIVE_WORKBENCH_UPLOAD_MAX": str(UPLOAD_MAX),
    }
    for url, proc in serve(db, env):
        s = Served(url, db, out, truth, 0, proc)
        s.env = env  # type: ignore[attr-defined]
        yield s
        wait_for_exports(s)
        for c in s.clients.values():
            c.close()


def counts(served: Served) -> list[int]:
    return [int(served.query(f"SELECT count(*) FROM {t}")[0][0]) for t in TABLES]


def network_with_ads(served: Served) -> tuple[int, str, list[int]]:
    network, label = served.query(
        "SELECT id, label FROM network WHERE strong = 1 ORDER BY size DESC, id LIMIT 1")[0]  # fmt: skip
    ads = [a for (a,) in served.query(
        "SELECT ad_id FROM ad_network WHERE network_id = ? ORDER BY ad_id", network)]  # fmt: skip
    return int(network), str(label), ads


def new_case(served: Served, reference: str, role: str = "analyst") -> int:
    client = served.client(role)
    token = csrf(client.get("/cases").text)
    made = client.post("/cases", data={"csrf_token": token, "reference": reference,
                                       "description": f"about {reference}"})  # fmt: skip
    assert made.status_code == 303, made.text[:500]
    return int(made.headers["location"].rsplit("/", 1)[1])


def audit_rows(served: Served, since: int) -> list[tuple[str, str, str]]:
    return served.query(
        "SELECT actor, action, subject FROM audit_event WHERE seq > ? ORDER BY seq", since)  # fmt: skip


# -- notes and tags -------------------------------------------------------------


def test_notes_and_tags_on_adverts_identifiers_and_networks(served: Served) -> None:
    analyst = served.client("analyst")
    network, label, ads = network_with_ads(served)
    ident_id, kind, value = served.query(
        "SELECT i.id, i.kind, i.value FROM identifier i JOIN ad_identifier ai "
        "ON ai.identifier_id = i.id WHERE i.kind = 'phone' ORDER BY i.id LIMIT 1")[0]  # fmt: skip
    token = csrf(analyst.get("/cases").text)
    head = served.audit_head()
    pages = {
        "ad": (str(ads[0]), f"/ads/{ads[0]}"),
        "identifier": (str(ident_id), None),
        "network": (label, f"/networks/{network}"),
    }
    for subject_kind, (ref, _) in pages.items():
        body = f"<script>window.__pwned = 1</script> seen again ({subject_kind})"
        answer = analyst.post("/notes", data={"csrf_token": token, "subject_kind": subject_kind,
                                              "subject_ref": ref, "body": body})  # fmt: skip
        assert answer.status_code == 303, answer.text[:300]
        tag = analyst.post("/tags", data={"csrf_token": token, "subject_kind": subject_kind,
                                          "subject_ref": ref, "tag": f"Follow Up {subject_kind}"})  # fmt: skip
        assert tag.status_code == 303
    ident_page = analyst.get("/search", params={"identifier": f"{kind}:{value}"}).text
    for subject_kind, (_, path) in pages.items():
        html = analyst.get(path).text if path else ident_page
        assert f"seen again ({subject_kind})" in html
        assert "&lt;script&gt;window.__pwned" in html and "<script>window" not in html
        assert f"follow up {subject_kind}" in html  # tags are kept lower-case
    # the evidence officer and the auditor read them, without the forms to change them
    for role in ("evidence_officer", "auditor"):
        html = served.client(role).get(f"/ads/{ads[0]}").text
        assert "seen again (ad)" in html and 'action="/notes"' not in html
    assert 'action="/notes"' in analyst.get(f"/ads/{ads[0]}").text
    # the tag page lists the tagged subjects
    tagged = analyst.get("/notes", params={"tag": "follow up network"}).text
    assert f"network {label}" in tagged
    # remove: the note stays in the store, marked; the tag is gone
    note_id = served.query("SELECT id FROM workbench_note WHERE subject_kind = 'network'")[0][0]
    tag_id = served.query("SELECT id FROM workbench_tag WHERE subject_kind = 'network'")[0][0]
    assert analyst.post(f"/notes/{note_id}/remove", data={"csrf_token": token}).status_code == 303
    assert analyst.post(f"/tags/{tag_id}/remove", data={"csrf_token": token}).status_code == 303
    html = analyst.get(f"/networks/{network}").text
    assert "seen again (network)" not in html and "follow up network" not in html
    assert served.query("SELECT removed_by FROM workbench_note WHERE id = ?", note_id) == [
        ("analyst",)]  # fmt: skip
    again = analyst.post(f"/notes/{note_id}/remove", data={"csrf_token": token})
    assert again.status_code == 400 and "already removed" in again.text
    actions = [(a, s) for _, a, s in audit_rows(served, head) if a.startswith(("note.", "tag."))]
    assert actions == [
        ("note.add", f"ad:{ads[0]}"), ("tag.add", f"ad:{ads[0]}"),
        ("note.add", f"identifier:{ident_id}"), ("tag.add", f"identifier:{ident_id}"),
        ("note.add", f"network:{label}"), ("tag.add", f"network:{label}"),
        ("note.remove", f"network:{label}"), ("tag.remove", f"network:{label}"),
    ]  # fmt: skip
    bad = analyst.post("/tags", data={"csrf_token": token, "subject_kind": "ad",
                                      "subject_ref": str(ads[0]), "tag": "<b>"})  # fmt: skip
    assert bad.status_code == 400 and "a tag is letters" in bad.text


# -- cases over HTTP ---------------------------------------------------------------


def test_case_reference_is_unique_and_items_are_checked(served: Served) -> None:
    analyst = served.client("analyst")
    case = new_case(served, "OP-UNIQUE-1")
    token = csrf(analyst.get("/cases").text)
    before = counts(served)
    dup = analyst.post("/cases", data={"csrf_token": token, "reference": "op-unique-1"})
    assert dup.status_code == 400 and "already a case" in dup.text
    empty = analyst.post("/cases", data={"csrf_token": token, "reference": "   "})
    assert empty.status_code == 400 and "needs a reference" in empty.text
    missing = analyst.post("/cases/items", data={"csrf_token": token, "case": case,
                                                 "kind": "ad", "value": "987654"})  # fmt: skip
    assert missing.status_code == 400 and "No advert" in missing.text
    assert counts(served) == before
    ad = served.query("SELECT min(id) FROM ad")[0][0]
    platform, external = served.query(
        "SELECT p.name, a.external_id FROM ad a JOIN platform p ON p.id = a.platform_id "
        "WHERE a.id = ?", ad)[0]  # fmt: skip
    added = analyst.post("/cases/items", data={"csrf_token": token, "case": case, "kind": "ad",
                                               "value": f"{platform}:{external}"})  # fmt: skip
    assert added.status_code == 303
    twice = analyst.post("/cases/items", data={"csrf_token": token, "case": case, "kind": "ad",
                                               "value": str(ad)})  # fmt: skip
    assert twice.status_code == 400 and "already in case" in twice.text
    page = analyst.get(f"/cases/{case}").text
    assert f'href="/ads/{ad}"' in page and "item added" in page


def test_csrf_is_refused_on_every_case_and_note_form(served: Served) -> None:
    case = new_case(served, "OP-CSRF")
    ad = served.query("SELECT min(id) FROM ad")[0][0]
    forms = {
        "analyst": [
            ("/cases", {"reference": "OP-CSRF-2"}),
            ("/cases/items", {"case": str(case), "kind": "ad", "value": str(ad)}),
            (f"/cases/{case}/description", {"description": "changed"}),
            ("/notes", {"subject_kind": "ad", "subject_ref": str(ad), "body": "x"}),
            ("/tags", {"subject_kind": "ad", "subject_ref": str(ad), "tag": "x"}),
        ],
        "evidence_officer": [(f"/cases/{case}/export", {})],
    }
    before = counts(served)
    other = csrf(served.client("auditor").get("/cases").text)
    for role, posts in forms.items():
        client = served.client(role)
        for path, form in posts:
            for token in (None, "x" * 43, other):
                data = dict(form) if token is None else {**form, "csrf_token": token}
                answer = client.post(path, data=data)
                assert answer.status_code == 403, (path, token, answer.text[:300])
                assert "not genuine" in answer.text
    officer = served.client("evidence_officer")
    refused = officer.post("/verify", data={"csrf_token": "x" * 43},
                           files={"bundle": ("a.wacz", b"PK not really")})  # fmt: skip
    assert refused.status_code == 403
    assert counts(served) == before
    assert served.query("SELECT description FROM workbench_case WHERE id = ?", case) == [
        ("about OP-CSRF",)]  # fmt: skip


def test_guessed_ids_are_refused_and_change_nothing(served: Served) -> None:
    mine = new_case(served, "OP-GUESS-A")
    theirs = new_case(served, "OP-GUESS-B", role="evidence_officer")
    ad = served.query("SELECT min(id) FROM ad")[0][0]
    analyst, officer = served.client("analyst"), served.client("evidence_officer")
    token = csrf(analyst.get("/cases").text)
    analyst.post("/cases/items", data={"csrf_token": token, "case": mine, "kind": "ad",
                                       "value": str(ad)})  # fmt: skip
    item = served.query("SELECT id FROM case_item WHERE case_id = ?", mine)[0][0]
    officer_token = csrf(officer.get("/cases").text)
    officer.post(f"/cases/{mine}/export", data={"csrf_token": officer_token})
    wait_for_exports(served)
    export = served.query("SELECT id, status FROM case_export WHERE case_id = ?", mine)[0]
    assert export[1] == "done"
    before, head = counts(served), served.audit_head()
    assert analyst.get("/cases/987654").status_code == 404
    assert analyst.get("/cases/-1").status_code == 404
    assert analyst.get("/cases/1%20OR%201=1").status_code == 404
    huge = "9" * 30  # past every engine's integer: still "not found"
    assert analyst.get(f"/cases/{huge}").status_code == 404
    assert officer.get(f"/cases/{mine}/exports/{huge}/download").status_code == 404
    assert analyst.post(f"/notes/{huge}/remove", data={"csrf_token": token}).status_code == 404
    assert analyst.post("/notes", data={"csrf_token": token, "subject_kind": "identifier",
                                        "subject_ref": huge, "body": "x"}).status_code == 404  # fmt: skip
    for role in ("technical", "admin"):
        assert served.client(role).get(f"/cases/{mine}").status_code == 403
    # an item of one case, removed through another case's URL
    wrong = analyst.post(f"/cases/{theirs}/items/{item}/remove", data={"csrf_token": token})
    assert wrong.status_code == 404
    assert analyst.post("/cases/items", data={"csrf_token": token, "case": "987654",
                                              "kind": "ad", "value": str(ad)}).status_code == 404  # fmt: skip
    assert analyst.post("/notes/987654/remove", data={"csrf_token": token}).status_code == 404
    assert analyst.post("/tags/987654/remove", data={"csrf_token": token}).status_code == 404
    assert analyst.post("/notes", data={"csrf_token": token, "subject_kind": "ad",
                                        "subject_ref": "987654", "body": "x"}).status_code == 404  # fmt: skip
    # an export of one case, downloaded through another case's URL; unknown exports
    assert officer.get(f"/cases/{theirs}/exports/{export[0]}/download").status_code == 404
    assert officer.get(f"/cases/{mine}/exports/987654/download").status_code == 404
    assert (
        officer.post("/cases/987654/export", data={"csrf_token": officer_token}).status_code == 404
    )
    assert officer.post(f"/cases/{theirs}/exports/{export[0]}/exhibit",
                        data={"csrf_token": officer_token}).status_code == 404  # fmt: skip
    # the analyst may read the case, not download its bundle
    assert analyst.get(f"/cases/{mine}/exports/{export[0]}/download").status_code == 403
    anonymous = httpx.Client(base_url=served.url)
    answer = anonymous.get(f"/cases/{mine}/exports/{export[0]}/download")
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    assert counts(served) == before
    assert served.query("SELECT count(*) FROM case_item WHERE id = ?", item) == [(1,)]
    # only reads were audited (the 404s of case pages say what was asked for)
    changes = [
        a
        for _, a, _ in audit_rows(served, head)
        if a != "login" and not a.endswith((".view", ".missing"))
    ]
    assert changes == [], changes


def test_an_upload_over_the_limit_is_refused(served: Served) -> None:
    officer = served.client("evidence_officer")
    token = csrf(officer.get("/verify").text)
    head = served.audit_head()
    big = officer.post("/verify", data={"csrf_token": token},
                       files={"bundle": ("big.wacz", b"\0" * (UPLOAD_MAX + 1))})  # fmt: skip
    assert big.status_code == 413
    not_zip = officer.post("/verify", data={"csrf_token": token},
                           files={"bundle": ("notes.txt", b"hello")})  # fmt: skip
    assert not_zip.status_code == 200 and "adarchive: error:" in not_zip.text
    assert [a for _, a, _ in audit_rows(served, head)] == ["bundle.verify"]


@pytest.mark.browser
@pytest.mark.slow
def test_the_court_exhibit_of_an_exported_bundle_is_made_and_downloaded(served: Served) -> None:
    """`adarchive exhibit`'s code from the case page: pywb and Chromium picture the adverts."""
    case = new_case(served, "OP-EXHIBIT", role="evidence_officer")
    officer = served.client("evidence_officer")
    token = csrf(officer.get("/cases").text)
    ad = served.query("SELECT min(id) FROM ad")[0][0]
    officer.post("/cases/items", data={"csrf_token": token, "case": case, "kind": "ad",
                                       "value": str(ad)})  # fmt: skip
    officer.post(f"/cases/{case}/export", data={"csrf_token": token})
    wait_for_exports(served)
    bundle = served.query("SELECT id FROM case_export WHERE case_id = ? AND status = 'done'", case)
    assert bundle, served.query("SELECT status, report FROM case_export WHERE case_id = ?", case)
    # the analyst may not make it
    analyst = served.client("analyst")
    refused = analyst.post(f"/cases/{case}/exports/{bundle[0][0]}/exhibit",
                           data={"csrf_token": csrf(analyst.get("/cases").text)})  # fmt: skip
    assert refused.status_code == 403
    head = served.audit_head()
    started = officer.post(
        f"/cases/{case}/exports/{bundle[0][0]}/exhibit", data={"csrf_token": token}
    )
    assert started.status_code == 303
    wait_for_exports(served, timeout=540)
    exhibit, status, report = served.query(
        "SELECT id, status, report FROM case_export WHERE case_id = ? AND kind = 'exhibit'", case)[0]  # fmt: skip
    assert status == "done", report
    assert "signed        yes (PAdES)" in report
    page = officer.get(f"/cases/{case}").text
    assert f"/cases/{case}/exports/{exhibit}/download" in page
    pdf = officer.get(f"/cases/{case}/exports/{exhibit}/download")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    sha = served.query("SELECT sha256 FROM case_export WHERE id = ?", exhibit)[0][0]
    assert hashlib.sha256(pdf.content).hexdigest() == sha
    actions = [a for _, a, _ in audit_rows(served, head) if a != "case.view"]
    assert actions == ["case.exhibit", "case.exhibit.written", "case.exhibit.download"], actions
    custody = served.query(
        "SELECT actor FROM custody_event WHERE action = 'exhibit.created' ORDER BY seq DESC LIMIT 1")  # fmt: skip
    assert custody[0][0].startswith("evidence_officer")


# -- in the browser ---------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "headless Chromium is needed: apt-get install -y chromium"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM),
                              args=["--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"])  # fmt: skip
        yield b
        b.close()


def session(browser: Any, served: Served, role: str, width: int = 1280) -> tuple[Any, Any, Watch]:
    context = browser.new_context(viewport={"width": width, "height": 900}, accept_downloads=True)
    page = context.new_page()
    watch = Watch(page, served.url)
    log_in(page, served, role)
    return context, page, watch


def cli_verify(path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`adarchive verify NAME` run beside the file, so its first line names it as the page does."""
    inherited = {k: v for k, v in os.environ.items() if k != "ADARCHIVE_DB"}
    return run_cli(["verify", path.name], timeout=300, cwd=path.parent,
                   env={**inherited, "PYTHONPATH": str(REPO), **env})  # fmt: skip


@pytest.mark.browser
def test_analyst_builds_a_case_the_officer_exports_and_verifies_it_the_auditor_sees_it(
    browser: Any, served: Served, tmp_path: Path
) -> None:
    network, label, members = network_with_ads(served)
    ad = served.query(
        "SELECT min(id) FROM ad WHERE id NOT IN (SELECT ad_id FROM ad_network)")[0][0] or members[0]  # fmt: skip
    head = served.audit_head()

    # the analyst opens a case, adds an advert from its page and a network from its page
    context, page, watch = session(browser, served, "analyst")
    navigate(
        page, page.get_by_role("navigation", name="Main").get_by_role("link", name="Cases").click
    )
    page.get_by_label("Reference").fill("OP-E2E-7")
    page.get_by_label("Description").fill("Two adverts and their network, for review.")
    navigate(page, page.get_by_role("button", name="Create case").click)
    assert page.url.startswith(served.url + "/cases/")
    case = int(page.url.rsplit("/", 1)[1])
    page.goto(f"{served.url}/ads/{ad}")
    page.get_by_label("Add to case").select_option(label="OP-E2E-7")
    navigate(page, page.get_by_role("button", name="Add to case").click)
    assert page.url == f"{served.url}/ads/{ad}"
    # other tests of the module may have put the same advert in their own cases
    assert "OP-E2E-7" in page.locator(".cases-in").inner_text().split()
    page.goto(f"{served.url}/networks/{network}")
    page.get_by_label("Add to case").select_option(label="OP-E2E-7")
    navigate(page, page.get_by_role("button", name="Add to case").click)
    page.goto(f"{served.url}/cases/{case}")
    items = page.locator(".itemgrid").inner_text()
    assert f"advert {ad}" in items and f"network {label}" in items
    assert page.get_by_role("button", name="Export the signed bundle").count() == 0  # not hers
    assert watch.problems == []
    context.close()

    # the evidence officer exports it, the page shows progress then the result
    context, page, watch = session(browser, served, "evidence_officer")
    page.goto(f"{served.url}/cases/{case}")
    navigate(page, page.get_by_role("button", name="Export the signed bundle").click)
    # the page refreshes itself while the bundle is written
    page.locator(".export.status-done, .export.status-failed").wait_for(timeout=240_000)
    assert page.locator(".export.status-done").count() == 1, page.locator(".export").inner_text()
    summary = page.locator(".export.status-done pre.lines").inner_text()
    assert "signed by" in summary and "captures" in summary
    with page.expect_download() as caught:
        page.get_by_role("link", name="Download bundle").click()
    download = caught.value
    bundle = tmp_path / download.suggested_filename
    download.save_as(bundle)
    assert bundle.name.startswith("OP-E2E-7-") and bundle.suffix == ".wacz"
    sha = served.query("SELECT sha256 FROM case_export WHERE case_id = ? AND kind = 'bundle'", case)
    assert hashlib.sha256(bundle.read_bytes()).hexdigest() == sha[0][0]
    # the CLI verifies the downloaded file, against the same trusted signer
    result = cli_verify(bundle, served.env)  # type: ignore[attr-defined]
    assert result.returncode == 0, result.stdout + result.stderr
    assert "signer verified" in result.stdout
    # the case's advert and every advert of its network are proven in the bundle
    with zipfile.ZipFile(bundle) as zf:
        rows = list(csv.DictReader(io.StringIO(zf.read("evidence/captures.csv").decode())))
    proven = {ref for row in rows for ref in row["ads"].split(";") if ref}
    for member in [ad, *members]:
        platform, external = served.query(
            "SELECT p.name, a.external_id FROM ad a JOIN platform p ON p.id = a.platform_id "
            "WHERE a.id = ?", member)[0]  # fmt: skip
        assert f"{platform}:{external}" in proven, member
    # the upload page says exactly what the CLI said
    navigate(
        page, page.get_by_role("navigation", name="Main").get_by_role("link", name="Verify").click
    )
    page.get_by_label("Bundle file").set_input_files(str(bundle))
    navigate(page, page.get_by_role("button", name="Verify").click)
    shown = page.locator("pre.lines").inner_text().rstrip("\n").splitlines()
    assert shown == result.stdout.rstrip("\n").splitlines()
    assert page.get_by_role("status").first.inner_text().startswith("RESULT: integrity OK")
    assert watch.problems == []
    context.close()

    # the auditor finds every step, with who did it
    context, page, watch = session(browser, served, "auditor")
    wanted = [
        ("analyst", "case.create", f"case:{case}"),
        ("analyst", "case.item.add", f"case:{case}"),
        ("evidence_officer", "case.export", f"case:{case}"),
        ("evidence_officer", "case.bundle.written", f"case:{case}"),
        ("evidence_officer", "case.bundle.download", f"case:{case}"),
        ("evidence_officer", "bundle.verify", None),
    ]
    for actor, action, subject in wanted:
        page.goto(f"{served.url}/audit?action={action}")
        rows = page.locator("table.audit tbody tr").all_inner_texts()
        assert any(actor in r and (subject is None or subject in r) for r in rows), (action, rows)
    assert (actor_rows := [r for r in audit_rows(served, head) if r[1] == "case.item.add"])
    assert len(actor_rows) == 2
    assert watch.problems == []
    context.close()


@pytest.mark.browser
def test_screenshots_of_the_case_pages(browser: Any, served: Served, tmp_path: Path) -> None:
    """The case list and a case page at 1280 and 800 px (`make screenshots` keeps them)."""
    case = new_case(served, "OP-SHOT-1")
    analyst = served.client("analyst")
    token = csrf(analyst.get("/cases").text)
    _, label, _ = network_with_ads(served)
    for kind, value in (
        ("ad", str(served.query("SELECT min(id) FROM ad")[0][0])),
        ("network", label),
    ):
        analyst.post("/cases/items", data={"csrf_token": token, "case": case, "kind": kind,
                                           "value": value})  # fmt: skip
    analyst.post("/notes", data={"csrf_token": token, "subject_kind": "network", "subject_ref": label,
                                 "body": "Same phone on three platforms."})  # fmt: skip
    officer = served.client("evidence_officer")
    officer.post(f"/cases/{case}/export", data={"csrf_token": csrf(officer.get("/cases").text)})
    wait_for_exports(served)
    out = Path(os.environ.get("ADARCHIVE_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    for width in (1280, 800):
        context, page, watch = session(browser, served, "evidence_officer", width)
        for path, name in (("/cases", "cases"), (f"/cases/{case}", "case")):
            page.goto(served.url + path)
            shot = out / f"{name}-{width}.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            # nothing wider than the window: no sideways scrolling
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            # the export's lines wrap (a long file name is read whole, not cut at the box)
            cut = page.locator("pre.lines").evaluate_all(
                "boxes => boxes.filter(b => b.scrollWidth > b.clientWidth).length")  # fmt: skip
            assert cut == 0, (name, width)
        assert watch.problems == []
        context.close()
