"""The fixture web as a child process, for the benchmarks (each runs as `python bench/X.py`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def start_server(
    ads: int,
    log: Path,
    truth: Path | None = None,
    seed: int | None = None,
    latency: float = 0.0,
) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """Serve a fixture world of ``ads`` adverts per platform; returns the process and its
    start line (base URLs by platform), read from the server's first line of output."""
    cmd = [sys.executable, "-m", "crawler.demo.server", "--ads", str(ads), "--port", "0"]
    cmd += ["--log", str(log)]
    if truth is not None:
        cmd += ["--truth", str(truth)]
    if seed is not None:
        cmd += ["--seed", str(seed)]
    if latency:
        cmd += ["--latency", str(latency)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(timeout=10)
        raise SystemExit(f"fixture web failed to start (exit {proc.returncode})")
    return proc, json.loads(line)
