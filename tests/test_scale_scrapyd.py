"""Existing Scrapyd dashboards can run our spiders: deploy the egg, schedule a job, get the ads."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO
from crawler.demo.world import FIXTURE_ALLOWED_ADDRESSES

pytestmark = [pytest.mark.crawl, pytest.mark.slow]

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(base: str, path: str, data: Any = None) -> dict:
    body = None
    if data is not None:
        body = urllib.parse.urlencode(data).encode() if not isinstance(data, bytes) else data
    with urllib.request.urlopen(base + path, data=body, timeout=30) as reply:
        return json.loads(reply.read())


def add_version(base: str, egg: Path) -> dict:
    boundary = "adarchiveboundary"
    parts = []
    for name, value in (("project", "adarchive"), ("version", "1")):
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        )
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="egg"; filename="a.egg"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    )
    body = (
        "".join(parts).encode()
        + head.encode()
        + egg.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        base + "addversion.json",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(request, timeout=60) as reply:
        return json.loads(reply.read())


def test_scrapyd_runs_a_platform_spider(fixture_web: Any, tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "scrapyd.conf").write_text(
        "[scrapyd]\nbind_address = 127.0.0.1\n"
        f"http_port = {port}\neggs_dir = {tmp_path}/eggs\nlogs_dir = {tmp_path}/logs\n"
        f"dbs_dir = {tmp_path}/dbs\nitems_dir =\n"
    )
    egg = tmp_path / "adarchive.egg"
    built = subprocess.run(
        [str(BIN / "scrapyd-deploy"), "--build-egg", str(egg)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    server = subprocess.Popen(
        [str(BIN / "scrapyd")], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(100):
            try:
                call(base, "daemonstatus.json")
                break
            except OSError:
                time.sleep(0.1)
        assert add_version(base, egg)["status"] == "ok"
        spiders = call(base, "listspiders.json?project=adarchive")["spiders"]
        assert {"kz_board", "jp_dating", "uk_directory", "kr_board"} <= set(spiders)
        data_dir = tmp_path / "data"
        job = call(base, "schedule.json", [
            ("project", "adarchive"), ("spider", "kz_board"),
            ("start_url", fixture_web.start_urls["kz_board"]),
            ("setting", f"ADARCHIVE_DATA_DIR={data_dir}"),
            ("setting", f"ADARCHIVE_ALLOWED_ADDRESSES={FIXTURE_ALLOWED_ADDRESSES}"),
            ("setting", "DOWNLOAD_DELAY=0.01"),
        ])  # fmt: skip
        assert job["status"] == "ok"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            finished = call(base, "listjobs.json?project=adarchive")["finished"]
            if any(j["id"] == job["jobid"] for j in finished):
                break
            time.sleep(0.5)
        else:
            raise AssertionError("the Scrapyd job did not finish in 120 s")
    finally:
        server.terminate()
        server.wait(30)
    expected = {
        str(a["external_id"]) for a in fixture_web.truth()["ads"] if a["platform"] == "kz_board"
    }
    with sqlite3.connect(data_dir / "adarchive.db") as conn:
        stored = {r[0] for r in conn.execute("SELECT external_id FROM ad")}
        proofs = conn.execute("SELECT COUNT(*) FROM ad WHERE capture_id IS NOT NULL").fetchone()[0]
    assert stored == expected
    assert proofs == len(expected)
    assert list((data_dir / "warc").glob("*.warc.gz"))
