"""Alerts pushed to a real local SMTP server and webhook receiver; drift between scheduled runs."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiosmtpd.controller import Controller
from cli_forkserver import popen

from conftest import FAST, REPO, adarchive, migrated_sqlite
from crawler.schedule.drift import DriftConfig, departures

# -- receivers ---------------------------------------------------------------------------


class Mailbox:
    """aiosmtpd handler: keeps every message delivered."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class Hook(BaseHTTPRequestHandler):
    """Webhook receiver: refuses the first POST (503) so the sender must retry."""

    received: ClassVar[list[dict[str, Any]]] = []
    refused: ClassVar[int] = 0

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if Hook.refused == 0:
            Hook.refused += 1
            self.send_response(503)
            self.end_headers()
            return
        Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet."""


@pytest.fixture
def receivers() -> Iterator[tuple[Mailbox, type[Hook], list[str]]]:
    Hook.received, Hook.refused = [], 0
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port("127.0.0.1"))
    smtp.start()
    http = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    settings = [
        "-s", f"ADARCHIVE_ALERT_WEBHOOK=http://127.0.0.1:{http.server_address[1]}/hook",
        "-s", f"ADARCHIVE_ALERT_SMTP=127.0.0.1:{smtp.port}",
        "-s", "ADARCHIVE_ALERT_EMAIL_TO=duty@example.org",
    ]  # fmt: skip
    try:
        yield mailbox, Hook, settings
    finally:
        http.shutdown()
        http.server_close()
        smtp.stop()


def test_refused_crawl_alerts_by_webhook_and_email(
    fixture_web: Any, tmp_path: Path, receivers: Any
) -> None:
    mailbox, hook, settings = receivers
    result = adarchive(
        "crawl", "kz_board", "--start-url", fixture_web.start_urls["kz_board"],
        "--out", str(tmp_path), *FAST[:4], *settings, timeout=120,
    )  # fmt: skip
    assert result.returncode == 5, result.stderr[-2000:]
    assert hook.refused == 1 and len(hook.received) == 1  # retried after the 503
    alert = hook.received[0]
    assert alert["schema"] == "adarchive-alert/1" and alert["kind"] == "crawl.refused"
    assert alert["platform"] == "kz_board" and "ADARCHIVE_ALLOWED_ADDRESSES" in alert["summary"]
    assert len(mailbox.messages) == 1
    mail = mailbox.messages[0]
    assert mail["To"] == "duty@example.org" and "kz_board" in mail["Subject"]
    assert "refused" in mail["Subject"] and '"kind": "crawl.refused"' in mail.get_payload()


# -- drift -------------------------------------------------------------------------------


def test_departures_need_history_and_a_sharp_change() -> None:
    config = DriftConfig(min_runs=2)
    steady = {"ads_per_listing": 10.0, "empty_field_rate": 0.0, "identifiers_per_ad": 1.0,
              "new_ad_rate": 0.1}  # fmt: skip
    assert departures(steady, [steady], config) == []  # too little history
    assert departures({**steady, "ads_per_listing": 7.0}, [steady, steady], config) == []
    assert departures({**steady, "ads_per_listing": 4.0}, [steady, steady], config)
    assert departures({**steady, "identifiers_per_ad": 0.0}, [steady, steady], config)
    assert departures({**steady, "empty_field_rate": 0.6}, [steady, steady], config)
    assert departures({**steady, "new_ad_rate": 1.0}, [steady, steady], config)


ADS = 6
PER_PAGE = 3


class Board(BaseHTTPRequestHandler):
    """A tiny synthetic board whose layout changes: v2 moves the contacts out of `div.contacts`."""

    layout: ClassVar[int] = 1

    def do_GET(self) -> None:  # noqa: N802
        path = self.path
        if path.startswith("/list") and Board.layout == 3:
            time.sleep(20)  # a listing that never comes in time: the crawl is killed meanwhile
        if path.startswith("/list"):
            page = int(path.rpartition("=")[2]) if "=" in path else 1
            first = (page - 1) * PER_PAGE
            links = "".join(
                f'<li><a class="ad" href="/ad/{n}.html">Advert {n}</a></li>'
                for n in range(first + 1, min(first + PER_PAGE, ADS) + 1)
            )
            more = (
                f'<a class="next" href="/list?page={page + 1}">next</a>'
                if first + PER_PAGE < ADS
                else ""
            )
            html = f"<html><body><ul class='ads'>{links}</ul>{more}</body></html>"
        elif path.startswith("/ad/"):
            n = int(path.split("/")[2].split(".")[0])
            phone = f"+7 701 555 01{n:02d}"
            contact = (
                f'<div class="contacts">Call {phone}</div>'
                if Board.layout == 1
                else f'<aside class="reach"><span>{phone}</span></aside>'
            )
            html = (f'<html><body><article data-id="{n}"><h1 class="title">Advert {n}</h1>'
                    f'<div class="body">A synthetic advert, number {n}.</div>{contact}'
                    "</article></body></html>")  # fmt: skip
        else:
            self.send_response(404)
            self.end_headers()
            return
        body = html.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet."""


DEFINITION = """schema_version = 1
[platform]
name = "drift_board"
country = "KZ"
language = "en"
start_urls = ["{url}"]
allowed_hosts = ["127.0.0.41"]
[listing]
ad_links = "css:ul.ads a.ad::attr(href)"
next_page = "css:a.next::attr(href)"
[detail]
external_id = "css:article::attr(data-id)"
title = "css:h1.title"
body = "css:div.body"
contacts = "css:div.contacts"
"""


def scheduled_store(path: Path, every_seconds: float, *watched: str) -> str:
    """A migrated store at ``path`` with drift_board scheduled and ``watched`` on the watchlist,
    made in this process: ``db upgrade``, ``schedule add`` and ``watch add`` have their own
    CLI tests (tests/test_mistakes.py, tests/test_schedule_scheduler.py)."""
    from crawler.schedule.schedules import add_schedule
    from crawler.schedule.watchlist import add_watches
    from crawler.store.db import open_store

    url = migrated_sqlite(path)
    factory = open_store(url, create=False)
    try:
        with factory() as session:
            add_schedule(session, "drift_board", every_seconds=every_seconds)
            add_watches(session, watched)
    finally:
        factory.kw["bind"].dispose()
    return url


@pytest.mark.crawl
def test_layout_change_between_scheduled_runs_is_drift(tmp_path: Path, receivers: Any) -> None:
    mailbox, hook, alert_settings = receivers
    board = ThreadingHTTPServer(("127.0.0.41", 0), Board)
    threading.Thread(target=board.serve_forever, daemon=True).start()
    Board.layout = 1
    url = f"http://127.0.0.41:{board.server_address[1]}/list"
    definitions = tmp_path / "definitions"
    definitions.mkdir()
    (definitions / "drift_board.toml").write_text(DEFINITION.format(url=url), encoding="utf-8")
    db, out = str(tmp_path / "adarchive.db"), tmp_path / "data"
    common = ["--db", db, "--definitions", str(definitions)]
    try:
        scheduled_store(tmp_path / "adarchive.db", 1, "phone:+77015550103")
        scheduler = ["scheduler", "--once", "--out", str(out), "--tick", "0.2", *common,
                     "--start-url", f"drift_board={url}", *FAST, *alert_settings,
                     "-s", "ADARCHIVE_DRIFT_MIN_RUNS=1"]  # fmt: skip
        first = adarchive(*scheduler, timeout=180)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "state finished" in first.stdout and "DRIFTING" not in first.stdout, first.stdout
        Board.layout = 2  # the site moves its contact block
        time.sleep(1.2)  # the schedule is due again
        second = adarchive(*scheduler, timeout=180)
        assert second.returncode == 0, second.stdout + second.stderr
    finally:
        board.shutdown()
        board.server_close()
    assert "state finished, DRIFTING" in second.stdout, second.stdout
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id, state, ads, drift_json FROM crawl ORDER BY id").fetchall()
    assert [(r[1], r[2]) for r in rows] == [("finished", ADS), ("finished", ADS)]
    assert rows[0][3] is None
    drift = json.loads(rows[1][3])
    assert drift["measures"]["identifiers_per_ad"] == 0 and drift["baseline_runs"] == [rows[0][0]]
    assert any(d.startswith("identifiers_per_ad 0.00 against 1.00") for d in drift["departures"])
    status = adarchive("status", "--db", db)
    assert "DRIFTING" in status.stdout and "identifiers_per_ad" in status.stdout, status.stdout
    kinds = [a["kind"] for a in hook.received]
    assert kinds == ["watch.hit", "crawl.drift"], kinds
    assert "+77015550103" in hook.received[0]["summary"]
    subjects = [m["Subject"] for m in mailbox.messages]
    assert len(subjects) == 2 and "drifts" in subjects[1], subjects


@pytest.mark.crawl
def test_scheduled_run_whose_crawl_dies_is_alerted(tmp_path: Path, receivers: Any) -> None:
    _, hook, alert_settings = receivers
    board = ThreadingHTTPServer(("127.0.0.41", 0), Board)
    threading.Thread(target=board.serve_forever, daemon=True).start()
    Board.layout = 3
    url = f"http://127.0.0.41:{board.server_address[1]}/list"
    definitions = tmp_path / "definitions"
    definitions.mkdir()
    (definitions / "drift_board.toml").write_text(DEFINITION.format(url=url), encoding="utf-8")
    db = str(tmp_path / "adarchive.db")
    common = ["--db", db, "--definitions", str(definitions)]
    scheduled_store(tmp_path / "adarchive.db", 3600)
    env = {k: v for k, v in os.environ.items() if k != "ADARCHIVE_DB"}
    scheduler = popen(
        ["scheduler", "--once", "--out", str(tmp_path / "data"),
         "--tick", "0.2", *common, "--start-url", f"drift_board={url}", *FAST, *alert_settings],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        pid = None
        while pid is None and time.monotonic() < deadline:
            time.sleep(0.2)
            with sqlite3.connect(db) as conn:
                row = conn.execute("SELECT pid FROM crawl WHERE status = 'running'").fetchone()
            pid = row[0] if row else None
        assert pid, "the scheduled crawl never started"
        os.kill(pid, signal.SIGKILL)  # the crawl dies without closing its crawl row
        out, _ = scheduler.communicate(timeout=60)
    finally:
        if scheduler.poll() is None:
            scheduler.kill()
            scheduler.wait()
        board.shutdown()
        board.server_close()
    assert scheduler.returncode == 0, out
    kinds = [a["kind"] for a in hook.received]
    assert kinds == ["schedule.run_failed"], (kinds, out)
    assert "drift_board: scheduled run 1" in hook.received[0]["summary"]
