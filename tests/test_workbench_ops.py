"""Crawl operations in the workbench: each permission cell (403 and no change), schedules
added, paused, resumed and removed as `adarchive schedule` does, watchlists and hits,
crawls with progress and refusals, platform definition health."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from workbench_server import ROLES, InThread, csrf, login

from crawler.store.db import open_store
from crawler.store.models import (
    Ad,
    AdIdentifier,
    Crawl,
    CrawlProgress,
    Identifier,
    Platform,
    utcnow,
)
from crawler.workbench.accounts import add_user
from crawler.workbench.app import create_app

PASSWORD = "a long enough password"
OPS_MATRIX = {
    "ops.view": {"technical", "admin"},
    "schedules.manage": {"technical"},
    "watchlists.manage": {"technical"},
}


@dataclass
class Ops:
    url: str
    db: Path
    clients: dict[str, httpx.Client] = field(default_factory=dict)

    def q(self, sql: str, *params: object) -> list[tuple]:
        with sqlite3.connect(self.db) as conn:
            return conn.execute(sql, params).fetchall()

    def one(self, sql: str, *params: object) -> object:
        return self.q(sql, *params)[0][0]

    def client(self, role: str) -> httpx.Client:
        if role not in self.clients:
            self.clients[role] = login(self.url, role, PASSWORD)
        return self.clients[role]

    def token(self, role: str) -> str:
        return csrf(self.client(role).get("/account").text)


def _fill(factory) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    with factory() as s:
        for role in ROLES:
            add_user(s, role, role, PASSWORD)
        kz = Platform(name="kz_board", country="KZ", language="ru")
        uk = Platform(name="uk_directory", country="GB", language="en")
        s.add_all([kz, uk])
        s.flush()
        done = Crawl(platform_id=kz.id, started_at=now - timedelta(hours=1),
                     finished_at=now - timedelta(minutes=50), status="finished", state="refused",
                     finish_reason="finished", pages=3, ads=0,
                     health_json=json.dumps({"problems": ["every start URL refused (ssrf 1)"],
                                             "fix": "allow them with ADARCHIVE_ALLOWED_ADDRESSES",
                                             "refusals": {"ssrf": 4, "robots": 1}}))  # fmt: skip
        running = Crawl(platform_id=uk.id, started_at=now - timedelta(minutes=5),
                        status="running", host="elsewhere", pid=1)  # fmt: skip
        s.add_all([done, running])
        s.flush()
        s.add(CrawlProgress(crawl_id=running.id, updated_at=now, pages=40, ads=12, errors=0,
                            pending=60, refusals_json=json.dumps({"offsite": 7})))  # fmt: skip
        ad = Ad(platform_id=kz.id, external_id="a1", url="http://127.0.0.11/ad/a1",
                first_seen=now, last_seen=now, title="Piano lessons", body="call +77015550101")  # fmt: skip
        phone = Identifier(kind="phone", value="+77015550101")
        s.add_all([ad, phone])
        s.flush()
        s.add(AdIdentifier(ad_id=ad.id, identifier_id=phone.id, field="body",
                           match="+77015550101", start=5, end=17))  # fmt: skip
        s.commit()


@pytest.fixture(scope="module")
def ops(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ops]:
    out = tmp_path_factory.mktemp("workbench-ops")
    db = out / "adarchive.db"
    factory = open_store(f"sqlite:///{db}")
    _fill(factory)
    with InThread(create_app(factory, out, secure_cookies=False)) as srv:
        o = Ops(srv.url, db)
        yield o
        for c in o.clients.values():
            c.close()


def _state(ops: Ops) -> tuple[object, ...]:
    return (
        ops.q("SELECT id, platform, every_seconds, cron, enabled FROM schedule ORDER BY id"),
        ops.q("SELECT id, kind, value FROM watch ORDER BY id"),
        ops.one("SELECT count(*) FROM watch_hit"),
    )


def _audit_head(ops: Ops) -> int:
    return int(ops.one("SELECT coalesce(max(seq), 0) FROM audit_event"))  # type: ignore[arg-type]


def _schedule(ops: Ops, platform: str = "kz_board", every: float = 86400.0) -> int:
    with sqlite3.connect(ops.db) as conn:
        cur = conn.execute(
            "INSERT INTO schedule (platform, every_seconds, enabled, next_run, created_at) "
            "VALUES (?, ?, 1, '2030-01-01 00:00:00', '2026-01-01 00:00:00')", (platform, every))  # fmt: skip
        return int(cur.lastrowid or 0)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("permission", sorted(OPS_MATRIX))
def test_permission_cell(ops: Ops, role: str, permission: str) -> None:
    client, token = ops.client(role), ops.token(role)
    n = ROLES.index(role) + 1
    if permission == "ops.view":
        requests = [lambda p=p: client.get(p) for p in
                    ("/ops", "/ops/platforms", "/ops/schedules", "/ops/watch")]  # fmt: skip
    elif permission == "schedules.manage":
        target = _schedule(ops, every=1000.0 + n)
        requests = [
            lambda: client.post(
                "/ops/schedules",
                data={"csrf_token": token, "platform": "kz_board", "every": f"{n}h"},
            ),  # fmt: skip
            lambda: client.post(f"/ops/schedules/{target}/pause", data={"csrf_token": token}),
            lambda: client.post(f"/ops/schedules/{target}/resume", data={"csrf_token": token}),
            lambda: client.post(f"/ops/schedules/{target}/remove", data={"csrf_token": token}),
        ]
    else:
        requests = [
            lambda: client.post(
                "/ops/watch", data={"csrf_token": token, "identifier": f"telegram:watch_{role}"}
            ),  # fmt: skip
            lambda: client.post("/ops/watch/scan", data={"csrf_token": token}),
        ]
    for request in requests:
        before, head = _state(ops), _audit_head(ops)
        answer = request()
        if role in OPS_MATRIX[permission]:
            assert answer.status_code == 200, answer.text[:300]
            assert _audit_head(ops) > head  # audited
        else:
            assert answer.status_code == 403, answer.text[:300]
            assert "may not do this" in answer.text
            assert _state(ops) == before and _audit_head(ops) == head  # nothing changed


def test_schedules_as_the_command_does(ops: Ops) -> None:
    tech, token = ops.client("technical"), ops.token("technical")
    page = tech.post("/ops/schedules", data={"csrf_token": token, "platform": "uk_directory",
                                             "every": "1h30m"})  # fmt: skip
    assert page.status_code == 200 and "added: uk_directory every 1h30m" in page.text
    sid = int(ops.one("SELECT max(id) FROM schedule WHERE platform = 'uk_directory'"))  # type: ignore[arg-type]
    assert ops.q("SELECT every_seconds, cron, enabled FROM schedule WHERE id = ?", sid) == [
        (5400.0, None, 1)
    ]
    # the same mistakes the command refuses, as one line, no change
    before = _state(ops)
    for form, message in [
        ({"every": "soon"}, "a duration like 6h"),
        ({"cron": "every day"}, "not a cron expression"),
        ({"every": "1h", "cron": "0 * * * *"}, "not both"),
        ({}, "not both"),
        ({"every": "1h30m"}, "already has schedule"),
        ({"platform": "nowhere", "every": "1h"}, "unknown platform"),
    ]:
        data = {"csrf_token": token, "platform": "uk_directory", **form}
        answer = tech.post("/ops/schedules", data=data)
        assert answer.status_code == 400 and message in answer.text, (form, answer.text[:300])
        assert "Traceback" not in answer.text
    assert _state(ops) == before
    assert (
        tech.post("/ops/schedules", data={"platform": "kz_board", "every": "2d"}).status_code == 403
    )
    assert _state(ops) == before  # no CSRF token, no change
    cron = tech.post("/ops/schedules", data={"csrf_token": token, "platform": "kz_board",
                                             "cron": "0 */6 * * *"})  # fmt: skip
    assert cron.status_code == 200 and "cron 0 */6 * * *" in cron.text
    paused = tech.post(f"/ops/schedules/{sid}/pause", data={"csrf_token": token})
    assert paused.status_code == 200 and f"Schedule {sid} (uk_directory) paused" in paused.text
    assert ops.one("SELECT enabled FROM schedule WHERE id = ?", sid) == 0
    assert f'aria-label="Resume schedule {sid} (uk_directory)"' in paused.text
    tech.post(f"/ops/schedules/{sid}/resume", data={"csrf_token": token})
    assert ops.one("SELECT enabled FROM schedule WHERE id = ?", sid) == 1
    assert tech.post("/ops/schedules/99999/pause", data={"csrf_token": token}).status_code == 404
    tech.post(f"/ops/schedules/{sid}/remove", data={"csrf_token": token})
    assert ops.q("SELECT id FROM schedule WHERE id = ?", sid) == []
    actions = [a for (a,) in ops.q(
        "SELECT action FROM audit_event WHERE subject = ? ORDER BY seq", f"schedule:{sid}")]  # fmt: skip
    assert actions == ["schedule.add", "schedule.pause", "schedule.resume", "schedule.remove"]
    # the admin sees schedules but has no buttons to change them
    seen = ops.client("admin").get("/ops/schedules").text
    assert "Add a schedule" not in seen and "Pause schedule" not in seen


def test_watchlists_and_hits(ops: Ops) -> None:
    tech, token = ops.client("technical"), ops.token("technical")
    added = tech.post("/ops/watch", data={"csrf_token": token, "identifier": "701 555 01 01",
                                          "region": "kz", "note": "case 7"})  # fmt: skip
    assert added.status_code == 200 and "Watching phone +77015550101" in added.text
    bad = tech.post("/ops/watch", data={"csrf_token": token, "identifier": "no identifier here"})
    assert bad.status_code == 400 and "Traceback" not in bad.text
    scanned = tech.post("/ops/watch/scan", data={"csrf_token": token})
    assert scanned.status_code == 200 and "1 new hit(s)" in scanned.text
    hits = scanned.text[scanned.text.index('id="hits-h"') :]
    assert "kz_board:a1" in hits and "+77015550101" in hits
    assert "/ads/" not in hits  # technical staff do not open adverts (ads.view)
    wid = int(ops.one("SELECT id FROM watch WHERE value = '+77015550101'"))  # type: ignore[arg-type]
    removed = tech.post(f"/ops/watch/{wid}/remove", data={"csrf_token": token})
    assert removed.status_code == 200 and "No longer watching phone +77015550101" in removed.text
    assert ops.q("SELECT id FROM watch WHERE id = ?", wid) == []


def test_crawls_and_platform_health(ops: Ops) -> None:
    tech = ops.client("technical")
    page = tech.get("/ops").text
    running = page[page.index('id="running-h"') : page.index('id="recent-h"')]
    assert "uk_directory" in running and "offsite: 7" in running
    assert re.search(r'<progress value="40" max="100"', running)
    recent = page[page.index('id="recent-h"') :]
    assert "kz_board" in recent and "refused" in recent
    assert "ssrf: 4" in recent and "robots: 1" in recent
    assert "every start URL refused" in recent and "ADARCHIVE_ALLOWED_ADDRESSES" in recent
    health = tech.get("/ops/platforms").text
    for name in ("hostile_board", "jp_dating", "kr_board", "kz_board", "th_board", "uk_directory"):
        assert f'<th scope="row">{name}</th>' in health
    kz = health[health.index('<th scope="row">kz_board</th>') :]
    kz = kz[: kz.index("</tr>")]
    assert "state-refused" in kz and "ssrf 4" in kz
    assert "never" in health  # a platform never crawled says so


def test_schedule_pause_and_resume_commands(tmp_path: Path) -> None:
    from conftest import adarchive

    db = str(tmp_path / "adarchive.db")
    assert adarchive("db", "upgrade", "--db", db).returncode == 0
    added = adarchive("schedule", "add", "kz_board", "--every", "6h", "--db", db)
    assert added.returncode == 0, added.stderr
    paused = adarchive("schedule", "pause", "1", "--db", db)
    assert paused.returncode == 0 and "schedule 1 (kz_board) paused" in paused.stdout
    listed = adarchive("schedule", "list", "--json", "--db", db)
    assert json.loads(listed.stdout)["enabled"] is False
    assert adarchive("schedule", "resume", "1", "--db", db).returncode == 0
    assert json.loads(adarchive("schedule", "list", "--json", "--db", db).stdout)["enabled"]
    missing = adarchive("schedule", "pause", "7", "--db", db)
    assert missing.returncode == 2 and missing.stderr.strip() == "adarchive: error: no schedule 7"
