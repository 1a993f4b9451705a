"""A crawled store with one account per role, served by the real `adarchive serve`.

Shared by the workbench's HTTP and browser tests. The store comes from a real
crawl of the fixture web (images on), analysed by `adarchive analyze`, made once
per test session (`crawled_store` in tests/workbench_stores.py) and copied for
each module that serves it; in some copies one advert's text is then replaced
with hostile markup, as an adversary would write it, to check that the
workbench escapes it.
"""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cli_forkserver import popen

from conftest import REPO, adarchive, crawl_world

PASSWORD = "correct horse battery staple"
ROLES = ("admin", "technical", "analyst", "evidence_officer", "auditor")
HOSTILE_TITLE = "Tutor <script>window.__pwned = 1; alert('title')</script> lessons"
HOSTILE_BODY = (
    'Evening classes <img src="/x" onerror="window.__pwned = 2"> and '
    "<script>alert('body')</script><b onmouseover=\"window.__pwned=3\">bold</b> here."
)


@dataclass
class Served:
    url: str
    db: Path
    out: Path
    truth: dict[str, Any]
    hostile_ad: int
    proc: subprocess.Popen[str] | None = None
    clients: dict[str, httpx.Client] = field(default_factory=dict)

    def query(self, sql: str, *params: Any) -> list[tuple]:
        with sqlite3.connect(self.db) as conn:
            return conn.execute(sql, params).fetchall()

    def audit_head(self) -> int:
        return int(self.query("SELECT coalesce(max(seq), 0) FROM audit_event")[0][0])

    def client(self, role: str) -> httpx.Client:
        """A logged-in client for the account of ``role`` (named after it)."""
        if role not in self.clients:
            self.clients[role] = login(self.url, role, PASSWORD)
        return self.clients[role]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def login(url: str, name: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=60)
    form = client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token, form.text
    answer = client.post(
        "/login", data={"name": name, "password": password, "login_token": token.group(1)}
    )
    assert answer.status_code == 303, answer.text
    return client


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def crawl_store(out: Path, seed: int = 1, ads: int = 8) -> dict[str, Any]:
    """Crawl the static platforms of a small fixture world (images on) and analyse it."""
    truth = crawl_world(out, seed, ads)
    adarchive("analyze", "--db", str(out / "adarchive.db"), check=True)
    return truth


def plant_hostile_text(db: Path) -> int:
    """Give one crawled advert an adversary's markup as its text; returns its id."""
    with sqlite3.connect(db) as conn:
        ad_id = conn.execute("SELECT min(id) FROM ad").fetchone()[0]
        conn.execute(
            "UPDATE ad SET title = ?, body = ?, text_sha256 = ? WHERE id = ?",
            (HOSTILE_TITLE, HOSTILE_BODY, "f" * 64, ad_id),
        )
    return int(ad_id)


def add_users(db: Path) -> None:
    """One account per role, by `adarchive users add` run in this process (the command's
    own subprocess tests are in test_workbench_units and test_workbench_e2e's demo)."""
    from cli_inprocess import adarchive_here

    for role in ROLES:
        result = adarchive_here("users", "add", role, "--role", role, "--password-stdin",
                                "--db", str(db), stdin=PASSWORD + "\n")  # fmt: skip
        assert result.returncode == 0, result.stderr


REPLAY_HOST = "127.0.0.2"  # the replay origin: another host than the workbench's


def wait_until_up(url: str, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    """Until the workbench at ``url`` answers its log-in page; fails with the server's
    output if ``proc`` ends first or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url + "/login", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(
                "the workbench did not start: " + (proc.stdout.read() if proc.stdout else "")
            )
        time.sleep(0.2)


def serve(
    db: Path, env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``adarchive serve`` on a free port; ``env`` adds settings (ADARCHIVE_*) for the server."""
    port = free_port()
    proc = popen(
        ["serve", "--db", str(db), "--port", str(port),
         "--replay-host", REPLAY_HOST, "--replay-port", str(free_port(REPLAY_HOST))],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_until_up(url, proc)
    try:
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for_exports(served: Served, timeout: float = 300) -> None:
    """Until no case export or exhibit of the server is running (their threads write at the end)."""
    deadline = time.monotonic() + timeout
    while served.query("SELECT count(*) FROM case_export WHERE status = 'running'")[0][0]:
        assert time.monotonic() < deadline, "a case export is still running"
        time.sleep(0.2)


class InThread:
    """The workbench application on a real uvicorn server in a thread (for tests without a crawl)."""

    def __init__(self, app: Any) -> None:
        import threading

        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> InThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline:
                raise AssertionError("the workbench did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
