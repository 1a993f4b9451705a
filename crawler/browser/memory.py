"""How much memory the crawl's process tree really uses, and a watchdog over it.

Summed RSS counts Chromium's shared memory once per process (a dozen
renderers sharing one V8 snapshot look like gigabytes); PSS charges each
shared page to its sharers in proportion, so the sum over the tree is what the
tree really holds. It is read from ``/proc/<pid>/smaps_rollup`` (Linux 4.14+),
which walks every mapping of the process: about 2 ms for one Chromium
process, 15–20 ms for an idle browser's tree. RSS (``/proc/<pid>/statm``, a
counter) costs microseconds and is never below PSS, so a summed RSS at or
below a limit proves the PSS is too: the watchdog reads PSS only when the RSS
bound does not settle the question, and once a second for its peak.
No address-space rlimit is put on Chromium: its allocators reserve terabytes
of address space they never touch.

The watchdog is a daemon thread, not an asyncio task: a page's JavaScript
that floods the loop with DevTools events (a gigabyte arriving in 64 kB
chunks) starved the task, which then read the tree too late or not at all.
The thread reads the tree every ``interval`` seconds whatever the loop is
doing and, past its trigger, SIGKILLs the browser's processes itself, so the
memory is freed at once; only the bookkeeping (the reason, the restart, the
failed pages) is handed to the loop. Python threads share the GIL, but the
interpreter hands it over every few milliseconds even to a busy loop, and
reading ``/proc`` releases it.

The trigger sits below the ceiling by a margin: a fixed share of it, or
three times the largest step between readings when memory has grown in each
of the last few (a page filling memory), so memory that grows fast is
stopped before the next reading would find it over the ceiling; a browser's
launch, one short jump, does not lower the trigger. The margin never
exceeds a quarter of the ceiling. (cgroups
cannot do this here: the machine has cgroup v1 and no writable memory
controller for the crawl; a cgroup's OOM kill would also give no reason.)
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

PROC = Path("/proc")
MARGIN_SHARE = 0.08
"""The trigger is at least this share of the ceiling below it."""
MARGIN_MAX_SHARE = 0.25
"""… and at most this share."""
SUSTAINED = 3
"""Readings in a row that must all have grown before growth widens the margin."""
GROWTH_FACTOR = 3
"""Sustained growth: the margin covers this many of the largest recent steps (a reading
late on a busy machine, the time the kill takes)."""
DRIVER_MARK = "run-driver"
"""In the command line of Playwright's driver (node), the parent of the browser it launches."""
BROWSER_NAMES = ("chrom", "headless_shell")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
EXACT_EVERY = 1.0
"""Seconds between the watchdog's PSS readings while the RSS bound is under its trigger."""


def children_map() -> dict[int, list[int]]:
    """Parent pid → child pids, for every process visible in /proc."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # the command name is in parentheses and may contain spaces
        fields = stat[stat.rfind(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def _children_files(root: int) -> list[int] | None:
    """``root`` and its descendants from ``/proc/<pid>/task/<tid>/children``: a cost in
    the tree's threads, not in every process on the machine. None where the kernel lacks
    those files (CONFIG_PROC_CHILDREN)."""
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        try:
            tids = os.listdir(PROC / str(pid) / "task")
        except OSError:  # gone meanwhile
            continue
        tree.append(pid)
        for tid in tids:
            try:
                with open(PROC / str(pid) / "task" / tid / "children", "rb") as fh:
                    todo.extend(int(child) for child in fh.read().split())
            except FileNotFoundError:
                if not (PROC / str(pid) / "task" / tid).exists():
                    continue  # the thread ended meanwhile
                return None  # no such files on this kernel
            except OSError:
                continue
    return tree


def process_tree(root: int, children: dict[int, list[int]] | None = None) -> list[int]:
    """``root`` and all its descendants."""
    if children is None:
        tree = _children_files(root)
        if tree is not None:
            return tree or [root]
        children = children_map()
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def pss_bytes(pid: int) -> int:
    """Proportional set size of one process (0 when it is gone or unreadable)."""
    try:
        text = (PROC / str(pid) / "smaps_rollup").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return 0


def rss_bytes(pid: int) -> int:
    """Resident set size of one process (0 when it is gone): never below its PSS."""
    try:
        return int((PROC / str(pid) / "statm").read_bytes().split()[1]) * PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return 0


def tree_pss(root: int | None = None) -> int:
    """PSS of a process and all its descendants, in bytes."""
    return sum(pss_bytes(pid) for pid in process_tree(root or os.getpid()))


def tree_memory(root: int | None = None, limit: int = 0) -> int:
    """What the tree holds, as cheaply as ``limit`` allows: its summed RSS when that is at or
    below ``limit`` (then the PSS is too), else its exact PSS. Never below the PSS, and
    exact whenever it exceeds ``limit``."""
    tree = process_tree(root or os.getpid())
    rss = sum(rss_bytes(pid) for pid in tree)
    return rss if rss <= limit else sum(pss_bytes(pid) for pid in tree)


def _cmdline(pid: int) -> str:
    try:
        return (
            (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def _comm(pid: int) -> str:
    try:
        return (PROC / str(pid) / "comm").read_text().strip()
    except OSError:
        return ""


def browser_processes(root: int, driver: int | None = None) -> list[int]:
    """The browser processes to kill: everything below the Playwright driver ``driver``.

    Playwright launches Chromium as a child of its driver (node), and every
    Chromium process (zygotes, renderers, the network service, GPU) descends
    from that one, so the driver's descendants are exactly the browser, and
    the crawl's other children (the evidence writer) are never touched.
    Without a known driver: every Chromium below any driver under ``root``,
    and any other process below ``root`` named like Chromium.
    """
    children = children_map()
    tree = process_tree(root, children)
    drivers = [driver] if driver else [p for p in tree if DRIVER_MARK in _cmdline(p)]
    found: list[int] = []
    for d in drivers:
        for child in children.get(d, ()):
            found += process_tree(child, children)
    if not driver:
        found += [p for p in tree if p not in found and any(n in _comm(p) for n in BROWSER_NAMES)]
    return found


@dataclass(frozen=True)
class MemoryKill:
    """One intervention: what the tree held, where the trigger was, which processes died."""

    pss: int
    trigger: int
    ceiling: int
    killed: tuple[int, ...]
    recent: tuple[int, ...] = ()
    """The last readings (bytes, summed RSS), oldest first: how fast it grew."""

    @property
    def reason(self) -> str:
        return (
            f"the crawl's process tree used {self.pss >> 20} MiB (PSS), past the "
            f"{self.trigger >> 20} MiB trigger of the {self.ceiling >> 20} MiB ceiling: "
            f"browser killed ({len(self.killed)} processes) and restarted"
        )


class MemoryWatchdog:
    """A thread that keeps the crawl's tree PSS under ``ceiling`` by killing the browser.

    ``on_kill(kill)`` is called from the watchdog's thread after the kill;
    ``generation`` and ``last`` change *before* the kill, so a page that fails
    because its browser died always finds the reason already recorded.
    """

    def __init__(
        self,
        ceiling: int,
        on_kill: Callable[[MemoryKill], object],
        interval: float = 0.05,
        root: int | None = None,
        cooldown: float = 2.0,
    ) -> None:
        self.ceiling = ceiling
        self.on_kill = on_kill
        self.interval = interval
        self.cooldown = cooldown
        """Seconds without kills after one: the killed processes take a moment to go."""
        self.root = root or os.getpid()
        self.driver: int | None = None
        """The Playwright driver whose browser this watchdog may kill (None: any below root)."""
        self.peak = 0
        """The highest PSS read (PSS is read once a second, and whenever RSS nears the trigger)."""
        self.readings = 0
        self.generation = 0
        self.last: MemoryKill | None = None
        self.error: str | None = None
        self._recent: deque[int] = deque(maxlen=SUSTAINED + 1)
        self._quiet_until = 0.0
        self._next_exact = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, driver: int | None = None) -> None:
        """Start the thread (once); call it after the browser launched, with its driver's pid."""
        if driver:
            self.driver = driver
        if self.ceiling <= 0 or self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name="adarchive-memory-watchdog", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def trigger(self, recent: list[int]) -> int:
        """The PSS past which the browser dies: the ceiling less a margin for sustained growth.

        ``recent`` are summed RSS readings: a page's own allocations grow RSS and PSS alike,
        shared pages grow RSS faster, so the margin is never narrower than PSS would make it."""
        steps = [b - a for a, b in zip(recent, recent[1:], strict=False)]
        sustained = len(steps) >= SUSTAINED and min(steps) > 0
        growth = GROWTH_FACTOR * max(steps) if sustained else 0
        margin = max(int(self.ceiling * MARGIN_SHARE), growth)
        return self.ceiling - min(margin, int(self.ceiling * MARGIN_MAX_SHARE))

    def _run(self) -> None:
        # Ahead of the crawl's other work on a busy machine, where allowed (root, CAP_SYS_NICE).
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), -5)
        while not self._stop.is_set():
            try:
                self.check()
            except Exception as exc:  # the watchdog outlives one bad reading, and says so
                self.error = f"{type(exc).__name__}: {exc}"
                logger.exception("memory watchdog: reading or killing failed")
            self._stop.wait(self.interval)

    def check(self) -> MemoryKill | None:
        """One reading; past the trigger, kill the browser. Returns the kill, if any.

        The summed RSS is read every time; the PSS only when the RSS is past the trigger (the
        PSS may not be) and once every :data:`EXACT_EVERY` seconds, for the peak."""
        tree = process_tree(self.root)
        rss = sum(rss_bytes(pid) for pid in tree)
        self.readings += 1
        self._recent.append(rss)
        trigger = self.trigger(list(self._recent))
        now = time.monotonic()
        if rss <= trigger and now < self._next_exact:
            return None
        pss = sum(pss_bytes(pid) for pid in tree)
        self.peak = max(self.peak, pss)
        self._next_exact = now + EXACT_EVERY
        if pss <= trigger or now < self._quiet_until:
            return None
        victims = browser_processes(self.root, self.driver)
        if not victims:
            return None  # nothing of ours to free (no browser running)
        kill = MemoryKill(pss, trigger, self.ceiling, tuple(victims), tuple(self._recent))
        self.last = kill
        self.generation += 1
        for pid in victims:
            with contextlib.suppress(OSError):  # exited meanwhile
                os.kill(pid, signal.SIGKILL)
        self._quiet_until = time.monotonic() + self.cooldown
        self.on_kill(kill)
        return kill


__all__ = [
    "MemoryKill",
    "MemoryWatchdog",
    "browser_processes",
    "process_tree",
    "pss_bytes",
    "rss_bytes",
    "tree_memory",
    "tree_pss",
]
