"""Workbench parts without a crawl: accounts, audit chain, throttle, highlighting,
cookie flags off loopback, CLI errors, and the application on both store engines."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from cli_forkserver import run_cli
from sqlalchemy import update
from workbench_server import InThread, login

from conftest import CHEAP_PASSWORD_HASH, REPO, adarchive, migrated_sqlite
from crawler.store.db import open_store
from crawler.store.models import Ad, AuditEvent, Platform
from crawler.workbench import audit
from crawler.workbench.accounts import (
    AccountError,
    add_user,
    check_password,
    demo_account,
    password_hasher,
)
from crawler.workbench.adview import Segment, segments
from crawler.workbench.app import create_app, is_loopback
from crawler.workbench.throttle import MAX_FAILURES, is_throttled

PASSWORD = "a long enough password"


def _cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return adarchive(*args, input=stdin, timeout=120)


def test_accounts_hash_and_refuse(tmp_path: Path) -> None:
    factory = open_store(migrated_sqlite(tmp_path / "s.db"))
    with factory() as s:
        user = add_user(s, "ana", "analyst", PASSWORD)
        assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
        assert check_password(s, "ana", PASSWORD) is not None
        assert check_password(s, "ana", PASSWORD + "x") is None
        assert check_password(s, "nobody", PASSWORD) is None
        for name, role, pw, msg in [("ana", "analyst", PASSWORD, "exists"),
                                    ("bo b", "analyst", PASSWORD, "bad user name"),
                                    ("bob", "chief", PASSWORD, "unknown role"),
                                    ("bob", "analyst", "short", "at least 10")]:  # fmt: skip
            with pytest.raises(AccountError, match=msg):
                add_user(s, name, role, pw)


def test_passwords_are_hashed_at_the_production_cost_by_default(tmp_path: Path) -> None:
    # The suite lowers the argon2 cost (conftest.CHEAP_PASSWORD_HASH); without those settings a
    # real `users add` stores argon2id at RFC 9106's low-memory cost: 64 MiB, 3 passes, 4 lanes.
    env = {k: v for k, v in os.environ.items() if k not in CHEAP_PASSWORD_HASH}
    db = tmp_path / "s.db"
    added = run_cli(["users", "add", "ana", "--role", "analyst", "--password-stdin", "--db",
                     str(db)], input=PASSWORD + "\n", cwd=REPO, timeout=120, env=env)  # fmt: skip
    assert added.returncode == 0, added.stderr
    with sqlite3.connect(db) as conn:
        (stored,) = conn.execute("SELECT password_hash FROM workbench_user").fetchone()
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$"), stored
    assert PasswordHasher().verify(stored, PASSWORD)  # argon2-cffi's own defaults: the same cost
    # In this process the cheap cost is configured, and the same password still verifies.
    assert password_hasher().memory_cost == 8
    with open_store(f"sqlite:///{db}")() as s:
        assert check_password(s, "ana", PASSWORD) is not None


def test_audit_chain_appends_and_verifies(tmp_path: Path) -> None:
    factory = open_store(migrated_sqlite(tmp_path / "s.db"))
    with factory() as s:
        for i in range(5):
            audit.append(s, "ana", "search", "ads", {"q": f"word {i}", "n": i})
        result = audit.verify(s)
        assert result.ok and result.events == 5
        total, rows = audit.query(s, audit.AuditFilter(actor="ana"), limit=2)
        assert total == 5 and [r.seq for r in rows] == [5, 4]
        s.execute(update(AuditEvent).where(AuditEvent.seq == 3).values(details='{"q":"other"}'))
        s.commit()
        broken = audit.verify(s)
        assert not broken.ok and broken.broken_seq == 3 and "details" in broken.reason


def test_throttle_counts_failures_in_the_window(tmp_path: Path) -> None:
    factory = open_store(migrated_sqlite(tmp_path / "s.db"))
    with factory() as s:
        for _ in range(MAX_FAILURES - 1):
            audit.append(s, "address:10.0.0.9", "login.failed", "user:ana", {})
        assert not is_throttled(s, "ana", "10.0.0.9")
        audit.append(s, "address:10.0.0.9", "login.failed", "user:ana", {})
        assert is_throttled(s, "ana", "10.0.0.1")  # by name, from anywhere
        assert not is_throttled(s, "bob", "10.0.0.1")
        old = datetime.now(UTC) - timedelta(minutes=16)
        s.execute(update(AuditEvent).values(at=old))
        s.commit()
        assert not is_throttled(s, "ana", "10.0.0.9")  # the window has passed


def test_segments_mark_identifiers_and_skip_bad_offsets() -> None:
    text = "Call 0701 555 or mail a@b.example"
    marks = [(5, 13, "phone", "+7701555"), (22, 33, "email", "a@b.example"),
             (6, 9, "phone", "x"), (30, 99, "url", "y")]  # fmt: skip
    assert segments(text, marks) == [
        Segment("Call "), Segment("0701 555", "phone", "+7701555"),
        Segment(" or mail "), Segment("a@b.example", "email", "a@b.example"),
    ]  # fmt: skip
    assert "".join(s.text for s in segments(text, marks)) == text


def test_cookies_are_secure_off_loopback(tmp_path: Path) -> None:
    factory = open_store(migrated_sqlite(tmp_path / "s.db"))
    with factory() as s:
        add_user(s, "ana", "analyst", PASSWORD)
    assert is_loopback("127.0.0.1") and not is_loopback("0.0.0.0")
    with InThread(create_app(factory, tmp_path, secure_cookies=True)) as server:
        client = httpx.Client(base_url=server.url)
        form = client.get("/login")
        assert "secure" in form.headers["set-cookie"].lower()
        token = re.search(r'name="login_token" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
        # a client over plain HTTP keeps Secure cookies to itself: hand it back as a browser
        # would over HTTPS
        login_cookie = form.headers["set-cookie"].split(";")[0]
        answer = httpx.post(server.url + "/login", headers={"cookie": login_cookie},
                            data={"name": "ana", "password": PASSWORD, "login_token": token})  # fmt: skip
    cookie = answer.headers["set-cookie"].lower()
    assert answer.status_code == 303 and "secure" in cookie and "httponly" in cookie


def test_the_app_runs_on_both_engines(store_url: str, tmp_path: Path) -> None:
    factory = open_store(store_url)
    with factory() as s:
        add_user(s, "ana", "analyst", PASSWORD)
        p = Platform(name="board")
        s.add(p)
        s.flush()
        now = datetime.now(UTC)
        s.add(Ad(platform_id=p.id, external_id="1", url="http://127.0.0.10/1", first_seen=now,
                 last_seen=now, title="Piano lessons", body="<b>Quiet</b> studio 東京"))  # fmt: skip
        s.commit()
    with InThread(create_app(factory, tmp_path, secure_cookies=False)) as server:
        client = login(server.url, "ana", PASSWORD)
        page = client.get("/search", params={"q": "東京 OR nothing"})
        assert "1 advert" in page.text and "Piano lessons" in page.text
        ad = client.get("/ads/1")
        assert "&lt;b&gt;Quiet&lt;/b&gt;" in ad.text
    with factory() as s:
        assert audit.verify(s).ok
        assert [e.action for e in audit.query(s, audit.AuditFilter())[1]] == [
            "ad.view", "search", "login"]  # fmt: skip


@pytest.mark.slow
def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    ok = _cli("users", "add", "chief", "--role", "admin", "--password-stdin", "--db", db,
              stdin=PASSWORD + "\n")  # fmt: skip
    assert ok.returncode == 0 and "user chief added (admin)" in ok.stdout
    for args, stdin, message in [
        (("users", "add", "x", "--role", "boss", "--password-stdin"), PASSWORD, "unknown role"),
        (("users", "add", "x", "--role", "analyst", "--password-stdin"), "short\n", "at least 10"),
        (("users", "add", "chief", "--role", "analyst", "--password-stdin"), PASSWORD, "exists"),
        (("users", "add", "x", "--role", "analyst"), "", "--password-stdin"),
    ]:
        result = _cli(*args, "--db", db, stdin=stdin)
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    missing = _cli("serve", "--db", str(tmp_path / "none.db"))
    assert missing.returncode == 2 and "no store at" in missing.stderr
    assert _cli("users", "list", "--db", db).stdout.strip() == "chief\tadmin\tactive"


def test_demo_account_has_a_fresh_password_once(tmp_path: Path) -> None:
    factory = open_store(migrated_sqlite(tmp_path / "s.db"))
    with factory() as s:
        name, password = demo_account(s)
        assert password and len(password) >= 16
        assert check_password(s, name, password) is not None
        assert demo_account(s) == (name, None)
    other = open_store(migrated_sqlite(tmp_path / "t.db"))
    with other() as s:
        assert demo_account(s)[1] != password
