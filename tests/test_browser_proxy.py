"""The egress proxy's decisions and limits, and the PSS measure, without a browser."""

from __future__ import annotations

import asyncio
import gzip
import os
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from crawler.browser import memory
from crawler.browser.memory import process_tree, pss_bytes, tree_pss
from crawler.browser.proxy import EgressProxy, ProxyPolicy, Refused, _Inflater, static_resolver
from crawler.guard.address import parse_allow_list

ALLOW = parse_allow_list("127.0.0.10-127.0.0.99")


def policy(**kw: Any) -> ProxyPolicy:
    base: dict[str, Any] = {"allowed_hosts": ("127.0.0.18", "site.test"), "ports": frozenset({8080}), "allow": ALLOW}  # fmt: skip
    return ProxyPolicy(**{**base, **kw})


class CountingResolver:
    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.calls: list[str] = []
        self.resolve = static_resolver(answers, self._none)

    async def _none(self, host: str) -> list[str]:
        return []

    async def __call__(self, host: str) -> list[str]:
        self.calls.append(host)
        return await self.resolve(host)


def decide(proxy: EgressProxy, host: str, port: int = 8080) -> str:
    return asyncio.run(proxy.decide(host, port))


@pytest.mark.parametrize("host", ["169.254.169.254", "[fe80::1]", "fe80::1%eth0", "127.0.0.1", "::ffff:169.254.1.1"])  # fmt: skip
def test_non_public_literals_are_refused_by_class_before_anything_else(host: str) -> None:
    resolver = CountingResolver({})
    proxy = EgressProxy(policy(allowed_hosts=(host.strip("[]"),)), resolver)
    with pytest.raises(Refused) as refused:
        decide(proxy, host)
    assert refused.value.kind == "ssrf"
    assert resolver.calls == [] and proxy.connections == []


def test_link_local_reason_names_the_class() -> None:
    proxy = EgressProxy(policy())
    with pytest.raises(Refused, match="169.254.169.254 is link-local"):
        decide(proxy, "169.254.169.254")
    with pytest.raises(Refused, match="fe80::1 is link-local"):
        decide(proxy, "fe80::1")


def test_hosts_ports_and_names_are_decided_on_every_connection() -> None:
    resolver = CountingResolver(
        {"site.test": ["127.0.0.18", "127.0.0.1"], "evil.test": ["8.8.8.8"]}
    )
    proxy = EgressProxy(policy(), resolver)
    assert decide(proxy, "127.0.0.18") == "127.0.0.18"
    with pytest.raises(Refused, match="not a port the platform uses"):
        decide(proxy, "127.0.0.18", 22)
    with pytest.raises(Refused) as offsite:
        decide(proxy, "evil.test")
    assert offsite.value.kind == "browser-offsite" and "evil.test" not in resolver.calls
    # a rebinding name: one look-up per connection, and the answer checked is the one used
    assert decide(proxy, "site.test") == "127.0.0.18"
    with pytest.raises(Refused, match="resolves to 127.0.0.1, loopback"):
        decide(proxy, "site.test")
    assert resolver.calls == ["site.test", "site.test"]


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
def test_inflated_size_is_measured_in_bounded_steps(encoding: str) -> None:
    raw = b"\0" * (8 << 20)
    if encoding == "gzip":
        body = gzip.compress(raw)
    elif encoding == "deflate":
        body = zlib.compress(raw)
    else:
        import brotli

        body = brotli.compress(raw)
    inflater = _Inflater(encoding, 4 << 20)
    assert "inflates past" in (inflater.feed(body) or "")
    assert inflater.total <= (4 << 20) + (64 << 10)
    assert _Inflater(encoding, 16 << 20).feed(body) is None


def test_unknown_encodings_are_not_relayed() -> None:
    assert "cannot be measured" in (_Inflater("zstd", 1 << 20).feed(b"x") or "")


class _Bomb(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = gzip.compress(b"\0" * (8 << 20))
        self.send_response(200)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_relay_cuts_a_bomb_and_logs_the_refusal() -> None:
    server = ThreadingHTTPServer(("127.0.0.18", 0), _Bomb)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]

    async def fetch() -> tuple[bytes, EgressProxy]:
        proxy = EgressProxy(policy(ports=frozenset({port}), max_body=1 << 20))
        await proxy.start()
        host, proxy_port = proxy.address
        reader, writer = await asyncio.open_connection(host, proxy_port)
        writer.write(f"GET http://127.0.0.18:{port}/bomb HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        data = await asyncio.wait_for(reader.read(), 10)
        await proxy.close()
        return data, proxy

    try:
        data, proxy = asyncio.run(fetch())
    finally:
        server.shutdown()
        server.server_close()
    assert data.startswith(b"HTTP/1.0 200") or data.startswith(b"HTTP/1.1 200")
    assert len(data) < 200_000  # cut: 8 MB inflated from ~8 kB, limit 1 MB
    assert [r.kind for r in proxy.refusals] == ["browser-size"]
    assert proxy.connections == [("127.0.0.18", "127.0.0.18", port)]


def test_tree_pss_counts_children_once() -> None:
    me = os.getpid()
    assert me in process_tree(me)
    assert pss_bytes(me) > 0
    assert tree_pss(me) >= pss_bytes(me)


@pytest.fixture
def fake_browser() -> Any:
    """A stand-in "driver" process with one child (the "browser"), both plain sleeps."""
    import subprocess
    import sys

    code = "import subprocess, time; subprocess.Popen(['sleep', '60']); time.sleep(60)"
    driver = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 10
    while not process_tree(driver.pid)[1:] and time.monotonic() < deadline:
        time.sleep(0.02)
    (browser,) = process_tree(driver.pid)[1:]
    yield driver.pid, browser
    driver.kill()
    driver.wait()


def test_tree_memory_reads_pss_only_past_its_limit(fake_browser: Any, monkeypatch: Any) -> None:
    """RSS (a counter) bounds PSS (a walk over every mapping), so PSS is read only where the
    bound does not settle it; the tree is the same whichever way /proc is walked."""
    driver, browser = fake_browser
    assert sorted(process_tree(driver)) == sorted(process_tree(driver, memory.children_map()))
    assert sorted(process_tree(driver)) == sorted([driver, browser])
    for pid in (driver, browser):
        assert memory.rss_bytes(pid) >= pss_bytes(pid) > 0
    read: list[int] = []
    monkeypatch.setattr(memory, "pss_bytes", lambda pid: read.append(pid) or pss_bytes(pid))
    bound = memory.tree_memory(driver, limit=1 << 40)
    assert read == [] and bound >= tree_pss(driver) > 0
    read.clear()
    exact = memory.tree_memory(driver, limit=0)
    assert sorted(read) == sorted([driver, browser]) and 0 < exact <= bound


def test_watchdog_reads_pss_once_a_second_under_its_trigger(
    fake_browser: Any, monkeypatch: Any
) -> None:
    from crawler.browser.memory import MemoryWatchdog

    driver, _ = fake_browser
    read: list[int] = []
    monkeypatch.setattr(memory, "pss_bytes", lambda pid: read.append(pid) or pss_bytes(pid))
    dog = MemoryWatchdog(1 << 40, lambda kill: None, root=driver)
    assert [dog.check() for _ in range(5)] == [None] * 5
    assert len(read) == 2 and dog.readings == 5 and dog.peak > 0  # the first reading only
    read.clear()
    monkeypatch.setattr(memory, "EXACT_EVERY", 0.0)  # the peak read at every reading
    dog = MemoryWatchdog(1 << 40, lambda kill: None, root=driver)
    assert [dog.check() for _ in range(3)] == [None] * 3
    assert len(read) == 6


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def test_watchdog_kills_only_the_drivers_children_then_waits(fake_browser: Any) -> None:
    from crawler.browser.memory import MemoryWatchdog

    driver, browser = fake_browser
    seen: list[Any] = []
    dog = MemoryWatchdog(1, seen.append, cooldown=30)  # every reading is over 1 byte
    dog.driver = driver
    kill = dog.check()
    assert kill is not None and kill.killed == (browser,) and seen == [kill]
    assert dog.generation == 1 and dog.last is kill
    assert "browser killed (1 processes)" in kill.reason and "of the 0 MiB ceiling" in kill.reason
    deadline = time.monotonic() + 5
    while not _gone(browser) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _gone(browser) and not _gone(driver)  # the driver (and this process) live on
    assert dog.check() is None  # cooldown: one kill, not a kill per reading


def test_watchdog_thread_is_not_starved_by_a_busy_thread(fake_browser: Any) -> None:
    """The thread acts while the calling thread spins in pure Python (as a busy loop would)."""
    from crawler.browser.memory import MemoryWatchdog

    driver, browser = fake_browser
    fired = threading.Event()
    dog = MemoryWatchdog(1, lambda kill: fired.set(), interval=0.01, cooldown=30)
    dog.start(driver)
    spins = 0
    while not fired.is_set() and spins < 50_000_000:
        spins += 1  # never yields to an event loop
    dog.stop()
    assert fired.is_set() and dog.generation == 1 and dog.error is None
    assert not dog.running


def test_watchdog_margin_widens_only_for_sustained_growth() -> None:
    from crawler.browser.memory import MemoryWatchdog

    mib = 1 << 20
    dog = MemoryWatchdog(1000 * mib, lambda kill: None)
    assert dog.trigger([500 * mib]) == 920 * mib  # 8 % below the ceiling
    # one jump (a browser launching) leaves it there
    assert dog.trigger([500 * mib, 500 * mib, 500 * mib, 800 * mib]) == 920 * mib
    # growth in every reading: three times the largest step, at most a quarter
    assert dog.trigger([500 * mib, 530 * mib, 560 * mib, 600 * mib]) == 880 * mib
    assert dog.trigger([100 * mib, 300 * mib, 500 * mib, 700 * mib]) == 750 * mib
