"""The optional TOTP second factor: RFC 6238 vectors, the command, the log-in code step
(throttled, no replay), and enrolment from the workbench, with real time-based codes."""

from __future__ import annotations

import base64
import os
import re
import sqlite3
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from workbench_server import InThread, csrf

from conftest import adarchive, migrated_sqlite
from crawler.store.db import open_store
from crawler.store.models import WorkbenchTotp, WorkbenchUser
from crawler.workbench import secondfactor, totp, totpseal
from crawler.workbench.accounts import add_user
from crawler.workbench.app import create_app
from crawler.workbench.throttle import MAX_FAILURES

PASSWORD = "a long enough password"


def test_rfc6238_reference_values() -> None:
    """Appendix B of RFC 6238 (HMAC-SHA-1, 8 digits), and the 6-digit codes apps show."""
    key = b"12345678901234567890"
    vectors = {59: "94287082", 1111111109: "07081804", 1111111111: "14050471",
               1234567890: "89005924", 2000000000: "69279037", 20000000000: "65353130"}  # fmt: skip
    for when, code in vectors.items():
        assert totp.hotp(key, totp.step_at(when), digits=8) == code
    secret = base64.b32encode(key).decode()
    assert totp.code_at(secret, 59) == "287082"
    assert totp.matching_step(secret, "287082", 59) == 1
    assert totp.matching_step(secret, "287082", 59 + 30) == 1  # the step before: clock drift
    assert totp.matching_step(secret, "287082", 59 + 90) is None  # too old
    assert totp.matching_step(secret, "28708x", 59) is None
    assert totp.matching_step(secret, "", 59) is None
    uri = totp.provisioning_uri(secret, "ana")
    assert uri.startswith("otpauth://totp/adarchive:ana?secret=" + secret)
    assert "period=30" in uri and "digits=6" in uri


def test_a_code_is_accepted_once(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADARCHIVE_WORKBENCH_SECRET_KEY_FILE", str(tmp_path / "wb.key"))
    factory = open_store(store_url)
    with factory() as db:
        user = add_user(db, "ana", "analyst", PASSWORD)
        enrolment = secondfactor.enrol(db, user)
        assert secondfactor.status(db, user.id) == "unconfirmed"
        assert not secondfactor.required(db, user.id)
        now = time.time()
        assert not secondfactor.confirm(db, user.id, "000000" if totp.code_at(
            enrolment.secret, now) != "000000" else "111111")  # fmt: skip
        assert secondfactor.confirm(db, user.id, totp.code_at(enrolment.secret, now))
        assert secondfactor.required(db, user.id)
        # the confirming code is used up; so is any code of an earlier step
        assert not secondfactor.accept_code(db, user.id, totp.code_at(enrolment.secret, now), now)
        assert not secondfactor.accept_code(db, user.id, totp.code_at(enrolment.secret, now - 30))
        # the next step's code is good, once
        later = now + 30
        assert secondfactor.accept_code(db, user.id, totp.code_at(enrolment.secret, later), later)
        assert not secondfactor.accept_code(
            db, user.id, totp.code_at(enrolment.secret, later), later
        )
        assert secondfactor.remove(db, user.id)
        assert secondfactor.status(db, user.id) == "none"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return adarchive(*args, timeout=120)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[InThread, Path]]:
    db = tmp_path / "adarchive.db"
    factory = open_store(migrated_sqlite(db))
    with factory() as s:
        for name in ("ana", "ben", "cy"):
            add_user(s, name, "analyst", PASSWORD)
    with InThread(create_app(factory, tmp_path, secure_cookies=False)) as srv:
        yield srv, db


def _password_step(client: httpx.Client, name: str, password: str = PASSWORD) -> httpx.Response:
    form = client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token
    return client.post("/login", data={"name": name, "password": password,
                                       "login_token": token.group(1)})  # fmt: skip


def _code_step(client: httpx.Client, page: str, code: str) -> httpx.Response:
    pending = re.search(r'name="pending_token" value="([^"]+)"', page)
    assert pending, page
    return client.post("/login/code", data={"pending_token": pending.group(1), "code": code})


def _fresh_code(db: Path, name: str, secret: str) -> str:
    """A code of a time step after the last one this account used: the current step's, else
    the next one's (accepted as clock drift); only if both are used, the clock must move."""
    from sqlalchemy import select

    with open_store(f"sqlite:///{db}")() as s:
        last = s.scalar(select(WorkbenchTotp.last_step).join(
            WorkbenchUser, WorkbenchUser.id == WorkbenchTotp.user_id).where(
            WorkbenchUser.name == name))  # fmt: skip
    while True:
        now = totp.step_at(time.time())
        for step in (now, now + 1):
            if last is None or step > last:
                return totp.hotp(base64.b32decode(secret + "=" * (-len(secret) % 8)), step)
        time.sleep(1)  # both steps used: a clock condition, met within 30 s


def test_login_asks_for_the_code_and_refuses_a_replayed_one(
    server: tuple[InThread, Path],
) -> None:
    srv, db = server
    enrolled = _cli("users", "totp", "ana", "--db", str(db))
    assert enrolled.returncode == 0, enrolled.stderr
    secret = re.search(r"secret: ([A-Z2-7]+)", enrolled.stdout)
    assert secret and f"otpauth://totp/adarchive:ana?secret={secret.group(1)}" in enrolled.stdout
    again = _cli("users", "totp", "ana", "--db", str(db))
    assert again.returncode == 2 and "already" in again.stderr and "Traceback" not in again.stderr

    client = httpx.Client(base_url=srv.url)
    asked = _password_step(client, "ana")
    assert asked.status_code == 200 and 'name="code"' in asked.text
    assert "adarchive_session" not in client.cookies  # not logged in yet
    assert secret.group(1) not in asked.text and secret.group(1) not in str(client.cookies)
    wrong = _code_step(client, asked.text, "000000" if totp.code_at(secret.group(1)) != "000000"
                       else "111111")  # fmt: skip
    assert wrong.status_code == 401 and "adarchive_session" not in client.cookies
    code = totp.code_at(secret.group(1))
    done = _code_step(client, wrong.text, code)
    assert done.status_code == 303 and "adarchive_session" in client.cookies
    assert client.get("/search").status_code == 200
    # the same code again, in a new log-in within its window: refused
    other = httpx.Client(base_url=srv.url)
    replay = _code_step(other, _password_step(other, "ana").text, code)
    assert replay.status_code == 401 and "adarchive_session" not in other.cookies
    # the pending log-in token is used once: a second code POST with it is refused
    pending_page = _password_step(other, "ana").text
    fresh = _fresh_code(db, "ana", secret.group(1))
    assert _code_step(other, pending_page, fresh).status_code == 303
    assert _code_step(other, pending_page, fresh).status_code == 403
    with open_store(f"sqlite:///{db}")() as s:
        actions = [a for (a,) in s.execute(__import__("sqlalchemy").text(
            "SELECT action FROM audit_event WHERE subject = 'user:ana' ORDER BY seq"))]  # fmt: skip
    assert actions[:5] == ["totp.enrol", "login.code_asked", "login.code_failed", "login",
                           "login.code_asked"]  # fmt: skip


def test_wrong_codes_are_throttled_like_passwords(server: tuple[InThread, Path]) -> None:
    srv, db = server
    secret = re.search(r"secret: ([A-Z2-7]+)", _cli("users", "totp", "ben", "--db", str(db)).stdout)
    assert secret
    client = httpx.Client(base_url=srv.url)
    page = _password_step(client, "ben").text
    bad = "000000" if totp.code_at(secret.group(1)) != "000000" else "111111"
    for _ in range(MAX_FAILURES):
        answer = _code_step(client, page, bad)
        assert answer.status_code == 401
        page = answer.text
    refused = _code_step(client, page, totp.code_at(secret.group(1)))  # right, but too late
    assert refused.status_code == 429 and "Too many failed" in refused.text
    assert "adarchive_session" not in client.cookies
    # and the password step is throttled for that name too
    assert _password_step(httpx.Client(base_url=srv.url), "ben").status_code == 429


def _drifted_code(secret: str) -> str:
    """The code of the step before now, as an app whose clock runs a little slow shows it
    (accepted as drift). The test's two later codes then find the current and the next step
    unused and need not wait up to 30 s for the clock to move. Late in a step (the request
    might reach the server in the next one, where this code is too old) it waits for the
    next step instead: at most 10 s, a third of the time."""
    while time.time() % totp.STEP > totp.STEP - 10:
        time.sleep(0.5)
    return totp.code_at(secret, time.time() - totp.STEP)


def test_enrol_from_the_workbench(server: tuple[InThread, Path]) -> None:
    srv, db = server
    client = httpx.Client(base_url=srv.url)
    assert _password_step(client, "cy").status_code == 303
    account = client.get("/account")
    assert account.status_code == 200 and "Set up two-step log-in" in account.text
    token = csrf(account.text)
    assert client.post("/account/totp/enrol", data={}).status_code == 403  # CSRF
    shown = client.post("/account/totp/enrol", data={"csrf_token": token})
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', shown.text)
    assert shown.status_code == 200 and secret
    with open_store(f"sqlite:///{db}")() as s:
        user = s.query(WorkbenchUser).filter_by(name="cy").one()
        row = s.get(WorkbenchTotp, user.id)
        assert row is not None and not row.confirmed
        assert row.secret.startswith("siv1:") and secret.group(1) not in row.secret  # sealed
        assert totpseal.secret_of(s, row) == secret.group(1)
    assert secret.group(1) not in client.get("/account").text  # shown once only
    assert secret.group(1) not in str(client.cookies)
    bad = client.post("/account/totp/confirm", data={"csrf_token": token, "code": "12345x"})
    assert bad.status_code == 400
    ok = client.post("/account/totp/confirm",
                     data={"csrf_token": token, "code": _drifted_code(secret.group(1))})  # fmt: skip
    assert ok.status_code == 200 and "Two-step log-in is on" in ok.text
    # the next log-in asks for a code
    other = httpx.Client(base_url=srv.url)
    asked = _password_step(other, "cy")
    assert asked.status_code == 200 and 'name="code"' in asked.text
    assert _code_step(other, asked.text, _fresh_code(db, "cy", secret.group(1))).status_code == 303
    # turning it off needs a current, unused code
    off = client.post("/account/totp/remove", data={"csrf_token": token, "code": "000000"})
    assert off.status_code == 400
    off = client.post("/account/totp/remove",
                      data={"csrf_token": token, "code": _fresh_code(db, "cy", secret.group(1))})  # fmt: skip
    assert off.status_code == 200 and "Two-step log-in is off" in off.text
    assert _password_step(httpx.Client(base_url=srv.url), "cy").status_code == 303


# -- the secrets sealed at rest ------------------------------------------------


def test_secrets_are_sealed_with_a_key_kept_outside_the_store(tmp_path: Path) -> None:
    """`users totp` stores the secret sealed; the key file (0600) is beside the store, not in
    it; a copy of the store without the key gives neither the secret nor a log-in."""
    home = tmp_path / "unit"
    home.mkdir()
    db = home / "adarchive.db"
    with open_store(f"sqlite:///{db}")() as s:
        add_user(s, "ana", "analyst", PASSWORD)
    enrolled = _cli("users", "totp", "ana", "--db", str(db))
    assert enrolled.returncode == 0, enrolled.stderr
    secret = re.search(r"secret: ([A-Z2-7]+)", enrolled.stdout)
    assert secret
    key = home / totpseal.KEY_FILE
    assert key.exists() and stat.S_IMODE(key.stat().st_mode) == 0o600
    raw = base64.b32decode(secret.group(1))
    stored = _store_bytes(db)
    assert secret.group(1).encode() not in stored and raw not in stored
    with open_store(f"sqlite:///{db}")() as s:
        (row,) = s.query(WorkbenchTotp).all()
        assert row.secret.startswith(totpseal.PREFIX) and len(row.secret) <= 64
        assert secondfactor.accept_code(s, row.user_id, totp.code_at(secret.group(1)))
        # bound to its account: the same sealed value under another account does not open
        with pytest.raises(totpseal.SecretKeyError, match="does not open"):
            totpseal.unseal(totpseal.store_key(s, create=False), row.user_id + 1, row.secret)
        # nor with another key (the AES-SIV tag says so)
        with pytest.raises(totpseal.SecretKeyError, match="does not open"):
            totpseal.unseal(os.urandom(64), row.user_id, row.secret)
    # the store copied alone (a backup, a dump): no key, no codes, and `serve` says why
    elsewhere = tmp_path / "copy"
    elsewhere.mkdir()
    with sqlite3.connect(db) as src, sqlite3.connect(elsewhere / "adarchive.db") as dst:
        src.backup(dst)
    served = _cli("serve", "--db", str(elsewhere / "adarchive.db"), "--port", "9")
    assert served.returncode == 2 and "Traceback" not in served.stderr
    assert f"no workbench key file at {elsewhere / totpseal.KEY_FILE}" in served.stderr


def _store_bytes(db: Path) -> bytes:
    """Every byte of a SQLite store: the file and its write-ahead log."""
    return b"".join(p.read_bytes() for p in (db, Path(f"{db}-wal")) if p.exists())


def test_clear_secrets_of_an_earlier_version_are_sealed_at_start(tmp_path: Path) -> None:
    db = tmp_path / "adarchive.db"
    secret = totp.new_secret()
    with open_store(f"sqlite:///{db}")() as s:
        user = add_user(s, "old", "analyst", PASSWORD)
        s.add(WorkbenchTotp(user_id=user.id, secret=secret, confirmed=True))  # as stored before
        s.commit()
        assert secondfactor.accept_code(s, user.id, totp.code_at(secret))  # still works
        assert totpseal.seal_clear_secrets(s) == 1
        row = s.get(WorkbenchTotp, user.id)
        assert row is not None and row.secret.startswith(totpseal.PREFIX)
        assert totpseal.secret_of(s, row) == secret
        assert totpseal.seal_clear_secrets(s) == 0
    assert secret.encode() not in _store_bytes(db)


def test_a_key_file_open_to_others_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "adarchive.db"
    with open_store(f"sqlite:///{db}")() as s:
        user = add_user(s, "ana", "analyst", PASSWORD)
        secondfactor.enrol(s, user)
    key = tmp_path / totpseal.KEY_FILE
    key.chmod(0o644)
    totpseal._KEYS.clear()  # as a fresh process would read it
    with open_store(f"sqlite:///{db}")() as s, pytest.raises(totpseal.SecretKeyError,
                                                             match="chmod 600"):  # fmt: skip
        totpseal.store_key(s, create=False)
