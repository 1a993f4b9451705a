"""The workbench served by several processes (``adarchive serve --workers N``): what the
processes must agree on lives in the store, and the audit chain stays one valid chain."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
from cli_forkserver import popen
from sqlalchemy import func, select
from workbench_server import free_port, login, wait_until_up

from conftest import REPO, adarchive, migrated_sqlite
from crawler.store.db import open_store
from crawler.store.models import AuditEvent, CustodyEvent
from crawler.workbench import audit
from crawler.workbench.accounts import add_user
from crawler.workbench.throttle import MAX_FAILURES

PASSWORD = "a long enough password"
EACH = 60

APPENDER = textwrap.dedent("""
    import sys, time
    from sqlalchemy import text
    from crawler.store.db import open_store
    from crawler.workbench import audit
    url, actor, n, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    factory = open_store(url)
    with factory() as s:
        s.execute(text("SELECT 1")).all()  # connected before the start
        while time.time() < start:
            time.sleep(0.005)
        began = time.time()
        for i in range(n):
            audit.append(s, actor, "search", "ads", {"q": f"word {i}", "by": actor})
        print(began, time.time())
""")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return adarchive(*args, timeout=120)


def test_two_processes_append_one_valid_chain(store_url: str) -> None:
    factory = open_store(store_url)
    with factory() as s:
        audit.append(s, "cli", "user.add", "user:ana", {"role": "analyst"})
    start = time.time() + 3.0  # both processes past their imports by then
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", APPENDER, store_url, actor, str(EACH), str(start)],
            cwd=REPO,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for actor in ("ana", "bo")
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    with factory() as s:
        result = audit.verify(s)
        assert result.ok, result
        seqs = list(s.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))
        assert seqs == list(range(1, 2 * EACH + 2))
        by_actor = dict(
            s.execute(select(AuditEvent.actor, func.count()).group_by(AuditEvent.actor)).all()
        )
        assert by_actor == {"cli": 1, "ana": EACH, "bo": EACH}
    factory.kw["bind"].dispose()
    verify = _cli("custody", "verify", "--db", store_url)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def _worker_pids(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_two_workers_share_throttle_sessions_and_chain(tmp_path: Path) -> None:
    url = migrated_sqlite(tmp_path / "store.db")
    factory = open_store(url)
    with factory() as s:
        for name in ("ana", "bo"):
            add_user(s, name, "analyst", PASSWORD)
    factory.kw["bind"].dispose()
    port = free_port()
    env = dict(os.environ, ADARCHIVE_WORKBENCH_AUDIT_ANCHOR_INTERVAL="0")
    server = popen(["serve", "--db", url,
                               "--port", str(port), "--replay-port", str(free_port("127.0.0.2")),
                               "--workers", "2"],
                              cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        assert server.stdout is not None
        while "workbench: http://" not in (line := server.stdout.readline()):
            assert line, "the server stopped before it listened"
        assert "(2 worker processes)" in line
        wait_until_up(base, server, timeout=120)
        assert len(_worker_pids(server.pid)) == 2

        # Wrong passwords, each on a new connection (any worker may take it): the
        # throttle counts them all, whichever process saw them.
        for _ in range(MAX_FAILURES):
            with httpx.Client(base_url=base, timeout=60) as c:
                token = re.search(r'name="login_token" value="([^"]+)"', c.get("/login").text)
                assert token
                answer = c.post("/login", data={"name": "ana", "password": "wrong password!",
                                                "login_token": token.group(1)})  # fmt: skip
                assert answer.status_code != 303
        with httpx.Client(base_url=base, timeout=60) as c:
            token = re.search(r'name="login_token" value="([^"]+)"', c.get("/login").text)
            assert token
            refused = c.post("/login", data={"name": "ana", "password": PASSWORD,
                                             "login_token": token.group(1)})  # fmt: skip
            assert refused.status_code != 303 and "Too many" in refused.text, refused.text

        # A session made by one worker is honoured by the other: new connections each time.
        bo = login(base, "bo", PASSWORD)
        cookies = bo.cookies
        bo.close()
        for n in range(12):
            with httpx.Client(base_url=base, timeout=60, cookies=cookies) as c:
                page = c.get("/search", params={"q": f"word{n}"})
                assert page.status_code == 200 and 'role="status"' in page.text, page.text[:300]
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
    factory = open_store(url)
    with factory() as s:
        assert audit.verify(s).ok
        actions = list(s.scalars(select(AuditEvent.action)))
        assert actions.count("search") == 12
        assert actions.count("login.failed") == MAX_FAILURES
        assert actions.count("login.throttled") == 1
        # The parent anchored the audit head at start and stop, once each (not per worker).
        heads = list(
            s.scalars(select(CustodyEvent.details).where(CustodyEvent.action == "audit.head"))
        )
        reasons = [re.search(r'"reason":"([^"]+)"', d).group(1) for d in heads]  # type: ignore[union-attr]
        assert reasons.count("workbench stopped") == 1, reasons
    factory.kw["bind"].dispose()
    verify = _cli("custody", "verify", "--db", url)
    assert verify.returncode == 0, verify.stdout + verify.stderr
