"""Helpers for the crash and shutdown tests: start a real crawl, stop it, check what is on disk."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cli_forkserver import popen

from conftest import FAST, REPO
from crawler.evidence.warcscan import WarcFormatError, scan_warc


@dataclass
class RunningCrawl:
    """A crawl process whose output goes to files (a helper process it leaves may hold pipes)."""

    proc: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    def kill_group(self) -> None:
        """SIGKILL the crawl and every process it started (its evidence writer): a power cut."""
        os.killpg(self.proc.pid, signal.SIGKILL)

    def wait(self, timeout: float) -> tuple[str, str]:
        self.proc.wait(timeout=timeout)
        return self.stdout(), self.stderr()

    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")


def start_crawl(logs: Path, *args: str) -> RunningCrawl:
    """``adarchive crawl …`` in its own process, for tests that signal or kill it."""
    env = {k: v for k, v in os.environ.items() if k != "ADARCHIVE_DB"}
    logs.mkdir(parents=True, exist_ok=True)
    n = len(list(logs.glob("crawl-*.stdout")))
    out, err = logs / f"crawl-{n}.stdout", logs / f"crawl-{n}.stderr"
    with open(out, "wb") as fo, open(err, "wb") as fe:
        proc = popen(
            ["crawl", *args, *FAST],
            cwd=REPO,
            env=env,
            stdout=fo,
            stderr=fe,
            start_new_session=True,  # its own process group: kill_group reaches its helpers
        )
    return RunningCrawl(proc, out, err)


def wait_for(predicate: Callable[[], bool], timeout: float, crawl: RunningCrawl) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if crawl.proc.poll() is not None:
            raise AssertionError(
                f"crawl ended before the kill point:\n{crawl.stdout()}\n{crawl.stderr()[-3000:]}"
            )
        if time.monotonic() > deadline:
            crawl.proc.kill()
            raise AssertionError("kill point not reached in time")
        time.sleep(0.005)


@dataclass
class DiskState:
    closed: list[Path]
    open: list[Path]
    records: dict[tuple[str, int], Any]
    """(file name without .open, offset) → scanned record with verified digests."""
    truncated: dict[str, str]
    """open file name → what is wrong with its tail."""


def scan_directory(warc_dir: Path) -> DiskState:
    """Read every WARC file: closed ones must be whole, open ones are read up to their tail."""
    closed = sorted(warc_dir.glob("*.warc.gz"))
    opened = sorted(warc_dir.glob("*.warc.gz.open"))
    records: dict[tuple[str, int], Any] = {}
    truncated: dict[str, str] = {}
    for path in closed:
        with open(path, "rb") as fh:
            for record in scan_warc(fh):  # raises on any damage or digest mismatch
                records[(path.name, record.offset)] = record
    for path in opened:
        name = path.name.removesuffix(".open")
        with open(path, "rb") as fh:
            try:
                for record in scan_warc(fh):
                    records[(name, record.offset)] = record
            except WarcFormatError as exc:
                truncated[path.name] = str(exc)
    return DiskState(closed, opened, records, truncated)


def check_captures(db: Path, state: DiskState) -> int:
    """Every capture row points at a complete record on disk with the same id and digest."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT c.offset, c.length, c.record_id, c.block_sha256, w.path FROM capture c"
            " JOIN warc_file w ON w.id = c.warc_file_id"
        ).fetchall()
    for offset, length, record_id, block, path in rows:
        record = state.records.get((Path(path).name, offset))
        assert record is not None, f"capture at {path}@{offset} has no complete record on disk"
        assert record.length == length and record.record_id == record_id
        assert record.block_sha256 == block
    return len(rows)


def check_custody(db: Path) -> int:
    from crawler.evidence.custody import verify_store_chain
    from crawler.store.db import open_store

    factory = open_store(f"sqlite:///{db}", create=False)
    try:
        with factory() as session:
            result = verify_store_chain(session)
    finally:
        factory.kw["bind"].dispose()
    assert result.ok, result.describe()
    return result.events


def query(db: Path, sql: str, *params: Any) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()
