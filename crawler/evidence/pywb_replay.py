"""pywb, the independent replay engine, run on loopback over a set of WARC files.

pywb 2.10 pins old dependencies, so it lives in a virtualenv of its own
(``make tools`` puts one at ``.tools/pywb``; elsewhere ``python3 -m venv
pywb && pywb/bin/pip install 'pywb==2.10.*'`` and ``ADARCHIVE_PYWB_BIN``
pointing at its ``bin``). The exhibit renders archived pages through it, and
the tests replay what the crawler wrote with it: nobody's home-made rewriter.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

COLLECTION = "evidence"
INSTALL = (
    "python3 -m venv .tools/pywb && .tools/pywb/bin/pip install 'pywb==2.10.*'  (or: make tools), "
    "or set ADARCHIVE_PYWB_BIN to the bin directory of a pywb 2.10 install"
)
# `make tools` puts pywb here, next to the package in a source checkout.
CHECKOUT_BIN = Path(__file__).resolve().parents[2] / ".tools" / "pywb" / "bin"


class ReplayError(RuntimeError):
    """pywb is missing or did not start: one line that names the fix."""


def find_pywb(configured: str | None = None) -> Path:
    """The bin directory holding ``wayback`` and ``wb-manager``."""
    candidates = [Path(configured)] if configured else [CHECKOUT_BIN]
    if not configured and (found := shutil.which("wayback")):
        candidates.append(Path(found).parent)
    for bin_dir in candidates:
        if (bin_dir / "wayback").exists() and (bin_dir / "wb-manager").exists():
            return bin_dir
    where = configured or CHECKOUT_BIN
    raise ReplayError(f"pywb is not installed at {where}; install it with: {INSTALL}")


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
def wayback(warcs: Sequence[Path], root: Path, bin_dir: Path | None = None) -> Iterator[Wayback]:
    """Index ``warcs`` into a fresh collection under ``root`` and serve it on loopback."""
    bin_dir = bin_dir or find_pywb()
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
        raise ReplayError(f"{' '.join(cmd)} failed: {result.stderr.strip()[-500:]}")


def _wait_until_up(server: Wayback, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = (server.root / "wayback.log").read_text(errors="replace")
            raise ReplayError(f"wayback exited with {proc.returncode}: {log[-500:]}")
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise ReplayError(f"wayback did not listen on 127.0.0.1:{server.port} in {timeout} s")
