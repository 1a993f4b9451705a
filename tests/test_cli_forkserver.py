"""The tests' CLI fork server (tests/cli_forkserver.py) runs a command as a new process would.

Each child gets the argument list, environment, working directory and standard streams of
its own call, not the server's or another child's; exit codes, signals, timeouts and
sessions behave as ``subprocess`` promises.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from cli_forkserver import ENABLED, ForkedPopen, popen, run_cli

from conftest import FAST, REPO, migrated_sqlite
from crawler.settings import EXTENSIONS

pytestmark = pytest.mark.skipif(not ENABLED, reason="TEST_FORKSERVER=0: commands exec")

CONTACT = "ADARCHIVE_OPERATOR_CONTACT"


def contact(cwd: Path, **env: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in (CONTACT, "ADARCHIVE_CONFIG")}
    result = run_cli(["settings", CONTACT, "--json"], cwd=cwd, env={**base, **env}, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_each_child_has_its_own_environment_and_working_directory(tmp_path: Path) -> None:
    assert contact(REPO, **{CONTACT: "one@example.org"})["value"] == "one@example.org"
    assert contact(REPO, **{CONTACT: "two@example.org"})["value"] == "two@example.org"
    assert contact(REPO)["source"] == "default"  # nothing left over from the calls before
    (tmp_path / "adarchive.toml").write_text(f'{CONTACT} = "file@example.org"\n')
    from_file = contact(tmp_path)  # ./adarchive.toml of the child's working directory
    assert from_file["value"] == "file@example.org"
    assert from_file["source"] == str(tmp_path / "adarchive.toml")


def test_exit_status_streams_and_input_are_the_childs(tmp_path: Path) -> None:
    missing = run_cli(["platform", "check", str(tmp_path / "nowhere.toml")], cwd=REPO, timeout=60)
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr.startswith("adarchive: error:") and "Traceback" not in missing.stderr
    lines = json.dumps({"id": "a1", "text": "Call me on 07911 123456"}) + "\n"
    extracted = run_cli(["extract", "-", "--region", "GB"], input=lines, cwd=REPO, timeout=60)
    assert extracted.returncode == 0, extracted.stderr
    assert json.loads(extracted.stdout)["identifiers"][0]["value"] == "+447911123456"


def test_signals_timeouts_and_sessions_reach_the_child() -> None:
    # `extract -` waits on its standard input: a child that runs until it is stopped
    waiting = popen(["extract", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, cwd=REPO, start_new_session=True)  # fmt: skip
    assert isinstance(waiting, ForkedPopen)
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            waiting.wait(timeout=0.5)
        assert waiting.poll() is None
        with pytest.raises(subprocess.TimeoutExpired):
            waiting.wait(timeout=0)  # as Popen: one look
        # set up when Popen returns, as a real one is: its own session already
        assert os.getpgid(waiting.pid) == waiting.pid != os.getpgid(0)
        waiting.send_signal(signal.SIGTERM)
        waiting.communicate(timeout=30)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()
    assert waiting.returncode == -signal.SIGTERM


@pytest.mark.slow  # waits out its timeout
def test_a_child_past_its_timeout_is_killed(tmp_path: Path) -> None:
    db = tmp_path / "adarchive.db"
    migrated_sqlite(db)
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):  # a scheduler runs until it is stopped
        run_cli(["scheduler", "--db", str(db), "--out", str(tmp_path), "--tick", "0.2"],
                cwd=REPO, timeout=3)  # fmt: skip
    assert time.monotonic() - started < 30


PROBE_EXTENSION = """
import os
from pathlib import Path

from scrapy.exceptions import NotConfigured


class Probe:
    @classmethod
    def from_crawler(cls, crawler):
        Path(os.environ["PROBE_MARK"]).write_text("loaded")
        raise NotConfigured
"""


@pytest.mark.crawl
def test_the_childs_pythonpath_finds_its_modules(tmp_path: Path) -> None:
    # A Scrapy component from a folder on the child's PYTHONPATH, as a user's project adds one;
    # PYTHONPATH is read at an interpreter's start, so the server puts it on sys.path itself.
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "probe_extension.py").write_text(PROBE_EXTENSION, encoding="utf-8")
    mark = tmp_path / "mark"
    extensions = json.dumps({**EXTENSIONS, "probe_extension.Probe": 1})
    env = {**os.environ, "PYTHONPATH": str(modules), "PROBE_MARK": str(mark)}
    env.pop("ADARCHIVE_DB", None)
    result = run_cli(["crawl", "kz_board", "--start-url", "kz_board=http://127.0.0.11:9/",
                      "--out", str(tmp_path / "out"), *FAST, "-s", "RETRY_TIMES=0",
                      "-s", f"EXTENSIONS={extensions}"], env=env, cwd=REPO, timeout=120)  # fmt: skip
    assert "ModuleNotFoundError" not in result.stderr, result.stderr[-2000:]
    assert mark.read_text() == "loaded", result.stderr[-2000:]


def test_set_up_errors_raise_and_bad_clients_leave_the_server_serving(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):  # as subprocess.Popen raises for a missing cwd
        popen(["platforms"], cwd=tmp_path / "nowhere", stdout=subprocess.DEVNULL)
    # a client that asks and leaves before its answer, one that sends garbage
    import socket

    from cli_forkserver import _SERVER

    path = _SERVER.ready()
    for message in (None, b"not json"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as conn:
            conn.connect(path)
            if message is not None:
                socket.send_fds(conn, [message], [0, 1, 2])
                conn.recv(512)
    assert run_cli(["platforms"], cwd=REPO, timeout=60).returncode == 0


def test_an_environment_an_interpreter_reads_at_start_is_execd() -> None:
    env = {**os.environ, "PYTHONIOENCODING": "utf-16"}
    process = popen(["platforms"], env=env, cwd=REPO, stdout=subprocess.PIPE)
    out, _ = process.communicate(timeout=60)
    assert not isinstance(process, ForkedPopen) and process.returncode == 0
    assert out.decode("utf-16").strip()  # what a new interpreter with that encoding writes


def test_a_worker_whose_shared_server_is_gone_starts_its_own(tmp_path: Path) -> None:
    """pytest-xdist's workers attach to the controller's server; when it cannot be reached
    (it died, its socket is gone), the next command starts one of the worker's own, however
    many of the worker's threads find it gone at once."""
    from concurrent.futures import ThreadPoolExecutor

    from cli_forkserver import ForkServer, _receive

    server = ForkServer()
    server.attach({"socket": str(tmp_path / "gone" / "socket"), "at_start": {}})

    def platforms(n: int) -> tuple[int, int, str]:
        out = tmp_path / f"out-{n}.txt"
        with out.open("w") as stdout:
            request = {"argv": ["platforms"], "env": dict(os.environ), "cwd": str(REPO),
                       "new_session": False}  # fmt: skip
            conn, pid = server.connect(request, [0, stdout.fileno(), 2])
        with conn:
            return pid, int(_receive(conn)), out.read_text()

    try:
        with ThreadPoolExecutor(3) as pool:
            results = list(pool.map(platforms, range(3)))
        assert all(pid > 0 and code == 0 and "kz_board" in text for pid, code, text in results)
        assert server._proc is not None and not server._attached  # its own, started once
    finally:
        server.stop()
