"""Replay WARC files in pywb, the independent tool a court expert would use.

pywb 2.10 pins old dependencies, so it lives in its own venv at ``.tools/pywb``
(``make tools``). Tests never install it: they fail with the command to run.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PYWB_BIN = REPO / ".tools" / "pywb" / "bin"
INSTALL = (
    "python3 -m venv .tools/pywb && .tools/pywb/bin/pip install 'pywb==2.10.*'  (or: make tools)"
)
COLLECTION = "evidence"


def require_pywb() -> Path:
    """The pywb bin directory, or a test failure that says how to install it."""
    if not (PYWB_BIN / "wayback").exists() or not (PYWB_BIN / "wb-manager").exists():
        pytest.fail(f"pywb is not installed at {PYWB_BIN}; install it with: {INSTALL}")
    return PYWB_BIN


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Fetched:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Wayback:
    """A running ``wayback`` serving one collection on 127.0.0.1."""

    port: int
    root: Path

    def url(self, target: str, timestamp: str = "", modifier: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/{COLLECTION}/{timestamp}{modifier}/{target}"

    def fetch(self, url: str, accept_encoding: str | None = None) -> Fetched:
        """GET without following redirects or decoding anything."""
        request = urllib.request.Request(url)
        if accept_encoding is not None:
            request.add_header("Accept-Encoding", accept_encoding)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return Fetched(response.status, dict(response.headers.items()), response.read())
        except urllib.error.HTTPError as exc:
            return Fetched(exc.code, dict(exc.headers.items()), exc.read())

    def raw(self, target: str, timestamp: str = "", accept_encoding: str = "gzip") -> Fetched:
        """The capture as archived (``id_``): no rewriting, content-coding passed through."""
        return self.fetch(self.url(target, timestamp, "id_"), accept_encoding)

    def replay(self, target: str, timestamp: str = "") -> Fetched:
        """Normal replay of the page content (``mp_``: rewritten, without the banner frame)."""
        return self.fetch(self.url(target, timestamp, "mp_"), accept_encoding="identity")


@contextmanager
def wayback(warcs: Sequence[Path], root: Path) -> Iterator[Wayback]:
    """Index ``warcs`` into a fresh collection under ``root`` and serve it on loopback."""
    bin_dir = require_pywb()
    root.mkdir(parents=True, exist_ok=True)
    _run([str(bin_dir / "wb-manager"), "init", COLLECTION], root)
    _run([str(bin_dir / "wb-manager"), "add", COLLECTION, *map(str, warcs)], root)
    port = free_port()
    log = (root / "wayback.log").open("wb")
    proc = subprocess.Popen(
        [str(bin_dir / "wayback"), "-b", "127.0.0.1", "-p", str(port), "-d", str(root)],
        cwd=root,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Wayback(port, root)
    try:
        _wait_until_up(server, proc)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _run(cmd: list[str], cwd: Path) -> None:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")


def _wait_until_up(server: Wayback, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = (server.root / "wayback.log").read_text(errors="replace")
            raise AssertionError(f"wayback exited with {proc.returncode}:\n{log}")
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"wayback did not listen on 127.0.0.1:{server.port} in {timeout} s")
