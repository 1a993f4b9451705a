"""`make setup` sets up a browser where it can, and says in one line where it cannot.

The Makefile's `browser` target runs against a stand-in venv whose `playwright`
cannot download (offline) or hangs: nothing here contacts the internet.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from conftest import REPO


def make_browser(venv: Path, playwright: str, *extra: str) -> subprocess.CompletedProcess[str]:
    (venv / "bin").mkdir(parents=True, exist_ok=True)
    tool = venv / "bin" / "playwright"
    tool.write_text(f"#!/bin/sh\n{playwright}\n", encoding="utf-8")
    tool.chmod(0o755)
    (venv / ".installed").touch()
    later = time.time() + 60  # newer than pyproject.toml: make must not rebuild the venv
    os.utime(venv / ".installed", (later, later))
    return subprocess.run(
        ["make", "-s", "-C", str(REPO), "browser", f"VENV={venv}", "BROWSER_CHECK=false", *extra],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_no_download_possible_says_how_to_install(tmp_path: Path) -> None:
    result = make_browser(tmp_path / "venv", "exit 1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("browser: no Chromium; trying Playwright's download")
    assert lines[-1].startswith("browser: download impossible here")
    assert "apt-get install chromium" in lines[-1]


def test_download_is_time_limited(tmp_path: Path) -> None:
    started = time.monotonic()
    result = make_browser(tmp_path / "venv", "sleep 30", "BROWSER_TIMEOUT=2")
    assert time.monotonic() - started < 15
    assert result.returncode == 0 and "download impossible here" in result.stdout


def test_download_success_is_reported(tmp_path: Path) -> None:
    result = make_browser(tmp_path / "venv", "exit 0")
    assert result.stdout.strip().splitlines()[-1] == "browser: Playwright's Chromium installed"


def test_found_browser_needs_no_download(tmp_path: Path) -> None:
    result = make_browser(tmp_path / "venv", "exit 1", "BROWSER_CHECK=true")
    assert result.stdout.strip() == "browser: Chromium found"
