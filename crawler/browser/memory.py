"""How much memory the crawl's process tree really uses, and a watchdog over it.

Summed RSS counts Chromium's shared memory once per process (a dozen
renderers sharing one V8 snapshot look like gigabytes); PSS charges each
shared page to its sharers in proportion, so the sum over the tree is what the
tree really holds. It is read from ``/proc/<pid>/smaps_rollup`` (Linux 4.14+).
No address-space rlimit is put on Chromium: its allocators reserve terabytes
of address space they never touch.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)

PROC = Path("/proc")


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


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants."""
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


def tree_pss(root: int | None = None) -> int:
    """PSS of a process and all its descendants, in bytes."""
    return sum(pss_bytes(pid) for pid in process_tree(root or os.getpid()))


class MemoryWatchdog:
    """Checks the crawl's tree PSS every ``interval`` seconds; calls ``on_over(pss)`` past ``ceiling``."""

    def __init__(
        self,
        ceiling: int,
        on_over: Callable[[int], object],
        interval: float = 0.25,
        root: int | None = None,
        cooldown: float = 3.0,
    ) -> None:
        self.ceiling = ceiling
        self.on_over = on_over
        self.interval = interval
        self.cooldown = cooldown
        """Seconds without readings after reacting: a closed browser's processes take a moment to exit."""
        self.root = root or os.getpid()
        self.peak = 0
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self._task is None and self.ceiling > 0:
            self._task = asyncio.ensure_future(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        while True:
            pss = await asyncio.to_thread(tree_pss, self.root)
            self.peak = max(self.peak, pss)
            if pss > self.ceiling:
                try:
                    result = self.on_over(pss)
                    if asyncio.iscoroutine(result):
                        await result
                except Exception:  # the watchdog must outlive one failed restart
                    logger.exception("memory watchdog: reacting to %d bytes failed", pss)
                await asyncio.sleep(self.cooldown)
            await asyncio.sleep(self.interval)


__all__ = ["MemoryWatchdog", "process_tree", "pss_bytes", "tree_pss"]
