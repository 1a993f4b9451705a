"""The workbench over a real crawled store, through HTTP: the role matrix cell by cell,
CSRF, login throttling, revocation, guessed ids, limits, headers and the audit chain."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from workbench_server import (
    PASSWORD,
    ROLES,
    Served,
    csrf,
    login,
    plant_hostile_text,
    serve,
    wait_for_exports,
)
from workbench_stores import BuiltStore, copy_store

from crawler.store.db import open_store
from crawler.workbench import audit
from crawler.workbench.roles import PERMISSIONS

pytestmark = [pytest.mark.crawl]


@pytest.fixture(scope="module")
def served(crawled_store: BuiltStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    store = copy_store(crawled_store, tmp_path_factory.mktemp("workbench-http"))
    hostile = plant_hostile_text(store.db)
    for url, proc in serve(store.db):
        s = Served(url, store.db, store.out, store.truth, hostile, proc)
        yield s
        for c in s.clients.values():
            c.close()


# The role matrix of docs/workbench.md, written out here on purpose: a change
# to crawler/workbench/roles.py that is not also made here and in the docs fails.
MATRIX = {
    "ads.view": {"analyst", "evidence_officer", "auditor"},
    "images.reveal": {"evidence_officer"},
    "ads.replay": {"evidence_officer"},
    "networks.view": {"analyst", "evidence_officer", "auditor"},
    "links.decide": {"analyst"},
    "audit.view": {"auditor", "admin"},
    "users.manage": {"admin"},
    "platforms.view": {"technical", "admin"},
    "notes.view": {"analyst", "evidence_officer", "auditor"},
    "notes.edit": {"analyst"},
    "cases.view": {"analyst", "evidence_officer", "auditor"},
    "cases.edit": {"analyst", "evidence_officer"},
    "cases.export": {"evidence_officer"},
    "bundles.verify": {"evidence_officer"},
    "ops.view": {"technical", "admin"},
    "schedules.manage": {"technical"},
    "watchlists.manage": {"technical"},
}
# Tables the case permissions write: a refused request leaves each as it was.
CASE_TABLES = ("workbench_note", "workbench_tag", "workbench_case", "case_item", "case_event",
               "case_export")  # fmt: skip


def test_matrix_is_the_documented_one() -> None:
    assert {k: set(v) for k, v in PERMISSIONS.items()} == MATRIX
    doc = (Path(__file__).resolve().parent.parent / "docs" / "workbench.md").read_text()
    for permission, roles in MATRIX.items():
        row = next(line for line in doc.splitlines() if line.startswith(f"| `{permission}`"))
        cells = [c.strip() for c in row.strip("|").split("|")[1:]]
        assert cells == ["yes" if r in roles else "—" for r in ROLES], row


def _first_image(served: Served) -> int:
    return int(served.query("SELECT min(id) FROM ad_image WHERE capture_id IS NOT NULL")[0][0])


def _prepare(served: Served, role: str, permission: str) -> Callable[[], httpx.Response]:
    """The request that exercises ``permission``, with its CSRF token fetched beforehand."""
    client = served.client(role)
    token = csrf(client.get("/search").text)  # every page, even a 403, has the log-out form
    ad = served.hostile_ad
    if permission == "ads.view":
        return lambda: client.get("/search", params={"q": "lessons"})
    if permission == "images.reveal":
        return lambda: client.post(f"/ads/{ad}/reveal", data={"csrf_token": token})
    if permission == "ads.replay":
        return lambda: client.post(f"/ads/{ad}/replay", data={"csrf_token": token})
    if permission == "audit.view":
        return lambda: client.get("/audit")
    if permission == "users.manage":
        form = {"csrf_token": token, "name": f"new-{role}", "role": "analyst", "password": PASSWORD}
        return lambda: client.post("/users", data=form)
    if permission == "platforms.view":
        return lambda: client.get("/platforms")
    if permission == "networks.view":
        return lambda: client.get("/networks")
    if permission == "links.decide":
        link = served.query("SELECT min(id) FROM link")[0][0]
        form = {"csrf_token": token, "decision": "note", "note": f"seen by {role}"}
        return lambda: client.post(f"/links/{link}/decision", data=form)
    if permission == "ops.view":
        return lambda: client.get("/ops")
    if permission == "schedules.manage":  # tests/test_workbench_ops.py: every action, no change
        form = {"csrf_token": token, "platform": "kz_board", "every": f"{ROLES.index(role) + 1}h"}
        return lambda: client.post("/ops/schedules", data=form)
    if permission == "watchlists.manage":
        form = {"csrf_token": token, "identifier": f"telegram:matrix_{role}"}
        return lambda: client.post("/ops/watch", data=form)
    if permission.startswith(("notes.", "cases.", "bundles.")):
        return _prepare_case_cell(served, client, token, role, permission)
    raise AssertionError(permission)


def _cell_case(served: Served) -> int:
    """A case holding one advert, made once by the analyst, for the export cells."""
    found = served.query("SELECT id FROM workbench_case WHERE reference = 'CELL-EXPORT'")
    if found:
        return int(found[0][0])
    analyst = served.client("analyst")
    token = csrf(analyst.get("/cases").text)
    made = analyst.post("/cases", data={"csrf_token": token, "reference": "CELL-EXPORT"})
    case = int(made.headers["location"].rsplit("/", 1)[1])
    analyst.post("/cases/items", data={"csrf_token": token, "case": case, "kind": "ad",
                                       "value": str(served.hostile_ad)})  # fmt: skip
    return case


def _prepare_case_cell(served: Served, client: httpx.Client, token: str, role: str,
                       permission: str) -> Callable[[], httpx.Response]:  # fmt: skip
    """Redirects (303 after a change) are followed: the cell sees the page they lead to."""
    ad = served.hostile_ad
    if permission == "notes.view":
        return lambda: client.get("/notes")
    if permission == "notes.edit":
        form = {"csrf_token": token, "subject_kind": "ad", "subject_ref": str(ad),
                "body": f"noted by {role}"}  # fmt: skip
        return lambda: client.post("/notes", data=form, follow_redirects=True)
    if permission == "cases.view":
        return lambda: client.get("/cases")
    if permission == "cases.edit":
        form = {"csrf_token": token, "reference": f"CELL-{role}", "description": "a cell"}
        return lambda: client.post("/cases", data=form, follow_redirects=True)
    if permission == "cases.export":
        case = _cell_case(served)

        def export() -> httpx.Response:
            answer = client.post(f"/cases/{case}/export", data={"csrf_token": token},
                                 follow_redirects=True)  # fmt: skip
            wait_for_exports(served)  # its thread's own writes must not land in a later cell
            return answer

        return export
    if permission == "bundles.verify":
        upload = {"bundle": ("cell.wacz", b"not a bundle at all")}
        return lambda: client.post("/verify", data={"csrf_token": token}, files=upload)
    raise AssertionError(permission)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("permission", sorted(MATRIX))
def test_role_matrix_cell(served: Served, role: str, permission: str) -> None:
    before_users = served.query("SELECT count(*) FROM workbench_user")[0][0]
    before_decisions = served.query("SELECT count(*) FROM link_decision")[0][0]
    request = _prepare(served, role, permission)
    before_cases = [served.query(f"SELECT count(*) FROM {t}")[0][0] for t in CASE_TABLES]
    head = served.audit_head()
    answer = request()
    if role in MATRIX[permission]:
        assert answer.status_code == 200, answer.text[:500]
        assert served.audit_head() > head  # every permitted action is audited
    else:
        assert answer.status_code == 403, answer.text[:500]
        assert "may not do this" in answer.text
        # refused: nothing changed, not even the audit trail
        assert served.audit_head() == head
        assert served.query("SELECT count(*) FROM workbench_user")[0][0] == before_users
        assert served.query("SELECT count(*) FROM link_decision")[0][0] == before_decisions
        assert [
            served.query(f"SELECT count(*) FROM {t}")[0][0] for t in CASE_TABLES
        ] == before_cases


def test_original_image_only_for_the_evidence_officer(served: Served) -> None:
    image = _first_image(served)
    for role in ROLES:
        answer = served.client(role).get(f"/images/{image}/original")
        expected = 200 if role == "evidence_officer" else 403
        assert answer.status_code == expected, role
    blurred = served.client("analyst").get(f"/images/{image}/blurred")
    assert blurred.status_code == 200 and blurred.headers["content-type"] == "image/png"
    original = served.client("evidence_officer").get(f"/images/{image}/original")
    assert original.content != blurred.content


def test_guessed_ids_are_refused(served: Served) -> None:
    analyst = served.client("analyst")
    assert analyst.get("/ads/987654").status_code == 404
    assert analyst.get("/ads/-1").status_code == 404
    assert analyst.get("/ads/1%20OR%201=1").status_code == 404
    assert served.client("technical").get(f"/ads/{served.hostile_ad}").status_code == 403
    assert served.client("evidence_officer").get("/images/987654/original").status_code == 404
    anonymous = httpx.Client(base_url=served.url)
    answer = anonymous.get(f"/ads/{served.hostile_ad}")
    assert answer.status_code == 303 and answer.headers["location"] == "/login"


def test_csrf_refused_without_or_with_a_wrong_token(served: Served) -> None:
    admin = served.client("admin")
    token = csrf(admin.get("/users").text)
    count = served.query("SELECT count(*) FROM workbench_user")[0][0]
    form = {"name": "csrf-victim", "role": "admin", "password": PASSWORD}
    assert admin.post("/users", data=form).status_code == 403
    assert admin.post("/users", data={**form, "csrf_token": "x" * 43}).status_code == 403
    # a token of another session does not do either
    other = csrf(served.client("analyst").get("/search").text)
    assert admin.post("/users", data={**form, "csrf_token": other}).status_code == 403
    # a browser's cross-site request is refused even with the right token
    cross = admin.post("/users", data={**form, "csrf_token": token},
                       headers={"Sec-Fetch-Site": "cross-site"})  # fmt: skip
    assert cross.status_code == 403
    assert served.query("SELECT count(*) FROM workbench_user")[0][0] == count
    assert admin.post("/users", data={**form, "csrf_token": token}).status_code == 200
    assert served.query("SELECT role FROM workbench_user WHERE name = 'csrf-victim'") == [
        ("admin",)
    ]
    # the log-in form has its own token too
    anonymous = httpx.Client(base_url=served.url)
    refused = anonymous.post("/login", data={"name": "admin", "password": PASSWORD})
    assert refused.status_code == 403 and "adarchive_session" not in refused.cookies


def test_login_throttling(served: Served) -> None:
    admin = served.client("admin")
    admin.post("/users", data={"csrf_token": csrf(admin.get("/users").text),
                               "name": "throttled", "role": "analyst", "password": PASSWORD})  # fmt: skip
    client = httpx.Client(base_url=served.url)

    def attempt(password: str) -> httpx.Response:
        token = re.search(r'name="login_token" value="([^"]+)"', client.get("/login").text)
        assert token
        return client.post("/login", data={"name": "throttled", "password": password,
                                           "login_token": token.group(1)})  # fmt: skip

    for _ in range(5):
        assert attempt("wrong password!").status_code == 401
    refused = attempt(PASSWORD)  # the right password, but too late
    assert refused.status_code == 429 and "Too many failed" in refused.text
    assert "adarchive_session" not in client.cookies
    actions = [a for (a,) in served.query(
        "SELECT action FROM audit_event WHERE subject = 'user:throttled' ORDER BY seq")]  # fmt: skip
    assert actions == ["user.add"] + ["login.failed"] * 5 + ["login.throttled"]


def test_sessions_live_on_the_server_and_are_revoked(served: Served) -> None:
    client = login(served.url, "analyst", PASSWORD)
    cookie = client.cookies["adarchive_session"]
    assert client.get("/search").status_code == 200
    token = csrf(client.get("/search").text)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    replay = httpx.Client(base_url=served.url, cookies={"adarchive_session": cookie})
    answer = replay.get("/search")
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    assert served.query(
        "SELECT count(*) FROM workbench_session WHERE revoked_at IS NOT NULL")[0][0] >= 1  # fmt: skip


def test_cookies_headers_and_body_limit(served: Served) -> None:
    client = httpx.Client(base_url=served.url)
    form = client.get("/login")
    csp = form.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp  # no script at all
    assert form.headers["x-frame-options"] == "DENY"
    token = re.search(r'name="login_token" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    answer = client.post("/login", data={"name": "analyst", "password": PASSWORD,
                                         "login_token": token})  # fmt: skip
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert "secure" not in cookie.replace("samesite", "")  # loopback: plain HTTP
    huge = client.post("/login", content=b"a=" + b"x" * (2 * 1024 * 1024),
                       headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert huge.status_code == 413


def test_hostile_text_is_escaped_in_the_html(served: Served) -> None:
    html = served.client("analyst").get(f"/ads/{served.hostile_ad}").text
    assert "<script" not in html.lower()
    assert "&lt;script&gt;window.__pwned" in html
    assert "onerror=" not in html.replace("onerror=&#34;", "")


def test_searches_and_views_are_in_the_audit_chain(served: Served) -> None:
    analyst = served.client("analyst")
    ident = served.query(
        "SELECT i.kind, i.value, ai.ad_id FROM identifier i JOIN ad_identifier ai "
        "ON ai.identifier_id = i.id WHERE i.kind = 'phone' LIMIT 1")[0]  # fmt: skip
    page = analyst.get("/search", params={"identifier": f"{ident[0]}:{ident[1]}"})
    assert f'href="/ads/{ident[2]}"' in page.text
    analyst.get(f"/ads/{ident[2]}")
    rows = served.query(
        "SELECT actor, action, subject FROM audit_event ORDER BY seq DESC LIMIT 2")  # fmt: skip
    assert rows == [("analyst", "ad.view", f"ad:{ident[2]}"), ("analyst", "search", "ads")]
    factory = open_store(f"sqlite:///{served.db}")
    with factory() as session:
        result = audit.verify(session)
    assert result.ok and result.events == served.audit_head(), result.describe()


def test_a_tampered_audit_event_breaks_the_chain(served: Served, tmp_path: Path) -> None:
    import sqlite3

    copy = tmp_path / "copy.db"
    # the backup API copies what the live server still holds in its WAL file too
    with sqlite3.connect(served.db) as live, sqlite3.connect(copy) as conn:
        live.backup(conn)
        assert conn.execute("SELECT count(*) FROM audit_event").fetchone()[0] >= 2
        conn.execute("UPDATE audit_event SET actor = 'someone-else' WHERE seq = 2")
    with open_store(f"sqlite:///{copy}")() as session:
        result = audit.verify(session)
    assert not result.ok and result.broken_seq == 2


def test_a_rejected_link_leaves_the_network_after_analyze(served: Served) -> None:
    from conftest import adarchive

    analyst = served.client("analyst")
    # a strong network of three or more adverts, and one of its links
    network, label = served.query(
        "SELECT id, label FROM network WHERE strong = 1 AND size >= 3 ORDER BY size DESC LIMIT 1")[0]  # fmt: skip
    members = {
        a for (a,) in served.query("SELECT ad_id FROM ad_network WHERE network_id = ?", network)
    }
    link, a, b, kind = served.query(
        "SELECT id, ad_a, ad_b, kind FROM link WHERE ad_a IN (SELECT ad_id FROM ad_network "
        "WHERE network_id = ?) AND ad_b IN (SELECT ad_id FROM ad_network WHERE network_id = ?) "
        "AND weight >= 0.7 ORDER BY id LIMIT 1", network, network)[0]  # fmt: skip
    page = analyst.get(f"/networks/{network}")
    assert page.status_code == 200 and f'id="link-{link}"' in page.text
    token = csrf(page.text)
    bad = analyst.post(f"/links/{link}/decision", data={"csrf_token": token, "decision": "delete"})
    assert bad.status_code == 400 and "unknown decision" in bad.text
    answer = analyst.post(f"/links/{link}/decision", data={
        "csrf_token": token, "decision": "reject", "note": "different people", "network": network})  # fmt: skip
    assert answer.status_code == 200 and "rejected" in answer.text
    assert served.query("SELECT decision, note, actor FROM link_decision ORDER BY id DESC LIMIT 1") == [
        ("reject", "different people", "analyst")]  # fmt: skip
    for args in (("analyze",), ("analyze", "--full")):
        adarchive(*args, "--db", str(served.db), check=True)
        together = served.query(
            "SELECT count(*) FROM ad_network x JOIN ad_network y ON x.network_id = y.network_id "
            "JOIN network n ON n.id = x.network_id WHERE n.strong = 1 AND x.ad_id = ? AND y.ad_id = ?",
            min(a, b), max(a, b))[0][0]  # fmt: skip
        after = served.query("SELECT size FROM network WHERE label = ?", label)
        # the pair is no longer held together by that link: the network shrank or split
        assert together == 0 or after == [] or after[0][0] < len(members), (args, after)
    # the rejected link is still shown (to be reversed), as rejected; accepting it restores it
    pages = [analyst.get(f"/networks/{n}").text for (n,) in served.query(
        "SELECT n.id FROM network n JOIN ad_network x ON x.network_id = n.id WHERE x.ad_id = ? "
        "AND n.strong = 1", min(a, b))]  # fmt: skip
    assert any('id="link-' in p and "status-rejected" in p for p in pages) or not pages
    link = served.query("SELECT id FROM link WHERE ad_a = ? AND ad_b = ? AND kind = ?",
                        a, b, kind)[0][0]  # fmt: skip
    analyst.post(f"/links/{link}/decision", data={"csrf_token": token, "decision": "accept"})
    adarchive("analyze", "--db", str(served.db), check=True)
    restored = served.query("SELECT size FROM network WHERE label = ?", label)
    assert restored == [(len(members),)]
    assert (
        "status-confirmed"
        in analyst.get(
            f"/networks/{served.query('SELECT id FROM network WHERE label = ?', label)[0][0]}"
        ).text
    )
    actions = [r for (r,) in served.query(
        "SELECT action FROM audit_event WHERE action = 'link.decision'")]  # fmt: skip
    assert len(actions) >= 2


def test_disabling_a_user_ends_their_sessions_at_once(served: Served) -> None:
    from conftest import adarchive

    admin = served.client("admin")
    admin.post("/users", data={"csrf_token": csrf(admin.get("/users").text), "name": "leaver",
                               "role": "analyst", "password": PASSWORD})  # fmt: skip
    client = login(served.url, "leaver", PASSWORD)
    assert client.get("/search").status_code == 200
    result = adarchive("users", "disable", "leaver", "--db", str(served.db), check=True)
    assert "1 session(s) ended" in result.stdout
    answer = client.get("/search")
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    missing = adarchive("users", "disable", "nobody", "--db", str(served.db))
    assert missing.returncode == 2 and "no user 'nobody'" in missing.stderr
